# The embedded default of `kt agent` without --config: everything on this
# host, nothing exposed beyond loopback.
data_dir = "./kt-data"

signing {
  # key_file defaults to <data_dir>/signing.key, generated on first start.
  checkpoint_interval = "10s"
}

source "webhook" "default" {
  listen = "127.0.0.1:8780"
  path   = "/v1/events"
}

sink "file" "local" {
  path = "./kt-data/out/audit.ndjson"
}

query_api {
  listen = "127.0.0.1:8781"
}
