// A Talkdesk access token from `td-oauth agent`, over its Unix socket, with Node.js's `http` module.
const http = require("node:http");
const path = require("node:path");

function agentSocket() {
  return process.env.TD_OAUTH_AGENT_SOCKET || path.join(process.env.XDG_RUNTIME_DIR, "td-oauth", "agent.sock");
}

// The access token of the agent's default client, or of the named `client`.
function agentToken(client) {
  return new Promise((resolve, reject) => {
    const options = {
      socketPath: agentSocket(),
      path: client ? `/v1/token/${client}` : "/v1/token",
      headers: { "TD-OAuth-Agent": "1" },
    };
    const request = http.request(options, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => {
        try {
          const answer = JSON.parse(body);
          if (response.statusCode === 200) resolve(answer.access_token);
          else reject(new Error(`td-oauth agent: ${answer.error}: ${answer.error_description}`));
        } catch (err) {
          reject(err);
        }
      });
    });
    request.setTimeout(10000, () => request.destroy(new Error("td-oauth agent: no answer within 10 s")));
    request.on("error", reject);
    request.end();
  });
}

module.exports = { agentToken };

if (require.main === module) {
  agentToken(process.argv[2]).then(
    (token) => console.log(token),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
