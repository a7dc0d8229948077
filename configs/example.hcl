# A production-shaped example: an authenticated webhook, redaction and
# vocabulary rules, a file sink for the local SIEM forwarder, a token on the
# query API. Secrets come from the environment: `kt config validate` and
# `kt agent` need KT_WEBHOOK_TOKEN, KT_WEBHOOK_HMAC and KT_API_TOKEN set.
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
  paths    = ["changes.after.credentials.*"]
  names    = ["x-tenant-signature"]       # secret member names of your own
  patterns = ["\\bACME-[0-9A-F]{32}\\b"]  # secret values of your own, RE2
}

normalize {
  category_map = { data_access = "policy" } # your producers' words -> kt's
}

sink "file" "local" {
  path = "/var/lib/kt/out/audit.ndjson" # NDJSON of ledger entries and checkpoints
}

health {
  stall_after = "2m" # report a source or sink with work waiting and no progress
}

query_api {
  listen = "127.0.0.1:8781"
  token  = env("KT_API_TOKEN")
}
