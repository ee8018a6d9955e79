# clicktocall: an example configuration for a production server run by
# deploy/clicktocall.service (or the container of deploy/Dockerfile), where
# it lives at /etc/clicktocall/config.hcl. Only settings that differ from
# the defaults are here; config.hcl at the top of the repository lists every
# setting. Check it with
#   clicktocall check -config /etc/clicktocall/config.hcl
# Secrets come from the environment (/etc/clicktocall/environment for the
# systemd unit, -e or --env-file for the container).

sip {
  # The address phones reach the server at; "" binds every interface.
  ip_address = ""
  identity   = "sip:clicktocall@example.com"
  # Credentials your SIP provider or PBX challenges the server with, if any.
  auth_username = env("CLICKTOCALL_SIP_USERNAME", "")
  auth_password = env("CLICKTOCALL_SIP_PASSWORD", "")
}

http {
  auth     = true
  password = env("CLICKTOCALL_HTTP_PASSWORD")
  # Prometheus cannot answer a Digest challenge: see api.metrics_auth.
}

api {
  metrics_auth = false # let Prometheus scrape /metrics; keep the HTTP port off the Internet
}

limits {
  max_active_calls            = 20000
  max_calls_per_second_per_ip = 5 # nobody call-bombs through the server
  max_calls_per_initiator     = 2
}

# The state directory of the systemd unit and the volume of the container.
log {
  file = "/var/lib/clicktocall/clicktocall.log"
}

cdr {
  file = "/var/lib/clicktocall/calls.cdr"
}

memory_limit = "1536MiB" # about 75 % of what the process may use

translation {
  # Digits are numbers at your gateway; edit to your dial plan.
  pattern = "^\\+?(\\d+)$"
  output  = "sip:$1@gateway.example.com"
}

translation {
  # SIP and SIPS URIs pass through.
  pattern = "^(sips?:.+)$"
  output  = "$1"
}

translation {
  # user@domain becomes a SIP URI.
  pattern = "^([^@:]+@.+)$"
  output  = "sip:$1"
}
