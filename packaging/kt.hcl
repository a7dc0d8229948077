# /etc/kt/kt.hcl — the packaged config. Secrets come from /etc/default/kt
# (EnvironmentFile of kt.service), never from this file.
data_dir = "/var/lib/kt"

signing {
  key_file            = "/var/lib/kt/signing.key" # generated on first start
  checkpoint_interval = "10s"
}

source "webhook" "console" {
  listen = "127.0.0.1:8780"
  path   = "/v1/events"
  # token = env("KT_WEBHOOK_TOKEN") # set it in /etc/default/kt
}

sink "file" "local" {
  path = "/var/lib/kt/out/audit.ndjson"
}

query_api {
  listen = "127.0.0.1:8781"
}
