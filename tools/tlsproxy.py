"""TLS in front of a plain local endpoint, for `make bench`: in AWS every function reaches
DynamoDB and S3 over TLS, so a cold start there pays a handshake that plain HTTP to moto hides.
This terminates TLS on loopback and passes each request to the upstream port, so each
function process makes (and pays for) a real TLS 1.3 handshake, with a certificate it must
verify, once: its connection is kept alive between requests, as AWS's endpoints keep it,
although moto closes its own after every answer.

    python tools/tlsproxy.py LISTEN_PORT UPSTREAM_PORT DIR

It writes DIR/ca.pem (a certificate authority made for this run, its key never written) and
serves a certificate for `localhost` and 127.0.0.1 signed by it; the functions trust it through
`AWS_CA_BUNDLE=DIR/ca.pem` (docs/performance.md)."""

import asyncio
import datetime
import ipaddress
import pathlib
import ssl
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def certificates(directory: pathlib.Path):
    """A CA and a leaf signed by it (P-256, as AWS's endpoints also offer ECDSA); the CA's
    certificate is written for the clients, the leaf and its key for this server."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "make bench CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    # The server's key lives only in a temporary file that ssl reads once.
    with tempfile.NamedTemporaryFile(suffix=".pem") as chain:
        chain.write(leaf.public_bytes(serialization.Encoding.PEM))
        chain.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        chain.flush()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(chain.name)
    return context


async def read_request(reader):
    """One HTTP/1.1 request off the client's connection, raw (head and body), or None when the
    client is done."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        return None
    headers = head.decode("latin-1").lower()
    length = next((int(line.split(":", 1)[1]) for line in headers.split("\r\n")
                   if line.startswith("content-length:")), 0)
    if "transfer-encoding: chunked" in headers:
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += size_line + chunk
            if size == 0:
                break
        return head + body
    return head + (await reader.readexactly(length) if length else b"")


async def read_response(reader, request):
    """moto's answer, read to its length (waiting for moto to close costs ~10 ms a request),
    or to the end when it gives none; none after a HEAD, a 204 or a 304."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
    if request.startswith(b"HEAD ") or status in (b"204", b"304"):
        return head
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    if length is None:
        return head + await reader.read(-1)
    return head + (await reader.readexactly(length) if length else b"")


def keep_alive(response):
    """moto answers `Connection: close` and closes: the client's connection stays open instead
    (its answer then needs a length, if it had none)."""
    head, _, body = response.partition(b"\r\n\r\n")
    lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"connection:")]
    if body and not any(l.lower().startswith((b"content-length:", b"transfer-encoding:"))
                        for l in lines):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: keep-alive")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def main(listen: int, upstream: int, directory: pathlib.Path):
    context = certificates(directory)

    async def serve(client_reader, client_writer):
        # Each request of a kept-alive TLS connection over a new plain one to moto, which
        # closes its connections after every answer (werkzeug's `Connection: close`); a
        # client's connection is kept, as AWS's endpoints keep them, so a function pays its
        # handshake once, as it does in AWS.
        try:
            while (request := await read_request(client_reader)) is not None:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
                up_writer.write(request)
                await up_writer.drain()
                response = await read_response(up_reader, request)
                up_writer.close()
                client_writer.write(keep_alive(response))
                await client_writer.drain()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            client_writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", listen, ssl=context)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3])))
