data_dir = "/var/lib/kt"

signing {
  key_file            = "/etc/kt/signing.key"   # generated on first start if absent
  checkpoint_interval = "10s"
}

source "file" "control_plane" {
  paths    = ["/var/log/keeptrusts/audit*.log"]
  start_at = "beginning"
}

source "webhook" "console" {
  listen      = "127.0.0.1:8780"
  path        = "/v1/events"
  token       = env("KT_WEBHOOK_TOKEN")
  hmac_secret = env("KT_WEBHOOK_HMAC")
}

redact {
  paths = ["changes.after.credentials.*"]
}

sink "splunk_hec" "soc" {
  endpoint   = "https://splunk.example:8088"
  token      = env("SPLUNK_HEC_TOKEN")
  index      = "audit"
  sourcetype = "keeptrusts:audit"
}

sink "elasticsearch" "siem" {
  addresses = ["https://es.example:9200"]
  api_key   = env("ES_API_KEY")
  index     = "logs-keeptrusts.audit-default"
}

sink "kafka" "bus" {
  brokers = ["kafka-1:9092"]
  topic   = "keeptrusts.audit"
}

sink "syslog" "arcsight" {
  address = "tls://siem.example:6514"
  format  = "cef"            # or "rfc5424"
}

sink "s3" "archive" {
  bucket = "audit-archive"
  prefix = "kt/"
}

sink "file" "local" {
  path = "/var/lib/kt/out/audit.ndjson"   # NDJSON of ledger entries and checkpoints
}

query_api {
  listen = "127.0.0.1:8781"
  token  = env("KT_API_TOKEN")
}

retention {
  max_age = "2160h"
}
