#!/usr/bin/env bash
# `make run`: on the first run creates a demo workspace in nexus.db (saving its IDs and token in
# .nexus/demo.json, readable only by you), then starts the server and prints what you need to try
# it. Later runs reuse the database and the saved token.
set -euo pipefail
nexus="${1:-build/release/src/cli/nexus}"
db_path="${NEXUS_DB_PATH:-nexus.db}"
export NEXUS_DB="sqlite://${db_path}"
port="${NEXUS_PORT:-8080}"
demo_file=".nexus/demo.json"

if [[ ! -f "$db_path" || ! -f "$demo_file" ]]; then
  mkdir -p .nexus
  umask 077
  # The legal window is off in the demo workspace so that the simulated calls can be tried at
  # any hour; real workspaces keep the default 08:00-21:00 (PATCH /api/organization sets it).
  "$nexus" init --demo --org "Demo Workspace" --legal-window off --json > "$demo_file"
fi

field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$demo_file"; }
token=$(field token)
user=$(field userId)
agent=$(field agentId)
number=$(field phoneNumberId)

cat <<TXT

  Nexus demo workspace (saved in $demo_file)
    token          $token
    userId         $user
    agentId        $agent
    phoneNumberId  $number

  Try it:
    curl -H "Authorization: Bearer $token" localhost:$port/api/agents

    curl -H "Authorization: Bearer $token" localhost:$port/api/call/upload \\
      -F file=@examples/contacts.csv -F userId=$user -F batchName="Demo batch" \\
      -F batchType=outbound -F 'callingNumbers=["$number"]' -F type=true \\
      -F 'callingHour={"start":"00:00","end":"23:59"}' -F 'allowedDays=[0,1,2,3,4,5,6]'

  The built-in simulator answers the calls (serve --simulate): read the batch's progress with
    curl -H "Authorization: Bearer $token" "localhost:$port/api/call/batch-details/<batch _id>"

    curl -H "Authorization: Bearer $token" "localhost:$port/api/call/batches/$user"

TXT
exec "$nexus" serve --port "$port" --simulate
