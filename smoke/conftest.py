# The smoke suite stands alone: it must not pick up the local-stack fixtures in e2e/.
