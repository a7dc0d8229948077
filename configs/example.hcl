# A production-shaped example: authenticated webhook, redaction paths, a
# file sink for the local SIEM forwarder. Secrets come from the environment.
data_dir = "/var/lib/kt"

signing {
  key_file            = "/etc/kt/signing.key" # generated on first start if absent
  checkpoint_interval = "10s"
}

source "webhook" "console" {
  listen        = "127.0.0.1:8780"
  path          = "/v1/events"
  token         = env("KT_WEBHOOK_TOKEN")
  hmac_secret   = env("KT_WEBHOOK_HMAC")
  replay_window = "5m"
}

redact {
  paths = ["changes.after.credentials.*"]
}

sink "file" "local" {
  path = "/var/lib/kt/out/audit.ndjson" # NDJSON of ledger entries and checkpoints
}

query_api {
  listen = "127.0.0.1:8781"
  token  = env("KT_API_TOKEN")
}
