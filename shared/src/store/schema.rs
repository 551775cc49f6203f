//! The table as data (what template.yaml must declare) and its creation for local stacks.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodb::Client;
use serde_json::json;

use super::keys::{INDEXES, PK, SK};
use crate::error::ApiError;
use crate::idempotency::EXPIRES_ATTRIBUTE;

/// The table's keys and indexes as data: what `template.yaml` must declare (a test compares).
pub fn schema() -> serde_json::Value {
    json!({
        "keySchema": [{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        "attributeDefinitions": attribute_names().iter()
            .map(|n| json!({"AttributeName": n, "AttributeType": "S"})).collect::<Vec<_>>(),
        "timeToLiveAttribute": EXPIRES_ATTRIBUTE,
        "streamViewType": "NEW_AND_OLD_IMAGES",
        "globalSecondaryIndexes": INDEXES.iter().map(|i| json!({
            "IndexName": i.name,
            "KeySchema": [{"AttributeName": i.partition_key, "KeyType": "HASH"},
                          {"AttributeName": i.sort_key, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        })).collect::<Vec<_>>(),
    })
}

fn attribute_names() -> Vec<&'static str> {
    let mut names = vec![PK, SK];
    for index in INDEXES {
        for name in [index.partition_key, index.sort_key] {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Creates the table as [`schema`] describes it, with its stream (the counts' source; local
/// stack and tests; SAM does it in AWS).
pub async fn create_table(client: &Client, table: &str) -> Result<(), ApiError> {
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| ApiError::internal("key schema", e))
    };
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .map_err(|e| ApiError::internal("stream", e))?;
    let mut req = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(stream)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?);
    for name in attribute_names() {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| ApiError::internal("attribute", e))?,
        );
    }
    for index in INDEXES {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash)?)
                .key_schema(key(index.sort_key, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| ApiError::internal("index", e))?,
        );
    }
    req.send()
        .await
        .map_err(|e| ApiError::internal("create table", e.into_service_error()))?;
    let ttl = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
        .attribute_name(EXPIRES_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(|e| ApiError::internal("ttl", e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| ApiError::internal("table ttl", e.into_service_error()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keys::{BY_PENDING_UPLOAD, CREATED_KEY, DUE_KEY};

    #[test]
    fn schema_lists_every_index_with_its_sort_key() {
        let s = schema();
        let indexes = s["globalSecondaryIndexes"].as_array().unwrap();
        assert_eq!(indexes.len(), 9);
        for i in indexes {
            let sort = &i["KeySchema"][1]["AttributeName"];
            assert!(
                sort == CREATED_KEY || sort == DUE_KEY || sort == BY_PENDING_UPLOAD.sort_key,
                "{i}"
            );
        }
        let defined = s["attributeDefinitions"].as_array().unwrap();
        assert_eq!(
            defined.len(),
            2 + 9 + 3,
            "keys, index partitions, three sort keys"
        );
    }
}
