# A token answer from `td-oauth agent`, over its Unix socket, with curl: JSON, as
# {"access_token": "…", "token_type": "Bearer", "expires_in": 583}; `| jq -r .access_token` keeps the token.
agent_token() {
  curl --silent --show-error --fail-with-body --max-time 10 \
    --unix-socket "${TD_OAUTH_AGENT_SOCKET:-$XDG_RUNTIME_DIR/td-oauth/agent.sock}" \
    --header 'TD-OAuth-Agent: 1' "http://localhost/v1/token${1:+/$1}"
}

agent_token "$@"
