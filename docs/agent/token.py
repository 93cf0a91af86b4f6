"""A Talkdesk access token from `td-oauth agent`, over its Unix socket, with Python's standard library."""

import http.client
import json
import os
import socket
import sys


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket: the agent listens on a file, not on a port."""

    def __init__(self, socket_path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def agent_socket():
    return os.environ.get("TD_OAUTH_AGENT_SOCKET") or os.path.join(
        os.environ["XDG_RUNTIME_DIR"], "td-oauth", "agent.sock"
    )


def agent_token(client=None):
    """The access token of the agent's default client, or of the named `client`."""
    connection = UnixHTTPConnection(agent_socket())
    try:
        path = "/v1/token" + (f"/{client}" if client else "")
        connection.request("GET", path, headers={"TD-OAuth-Agent": "1"})
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"td-oauth agent: {answer['error']}: {answer['error_description']}")
    return answer["access_token"]


if __name__ == "__main__":
    print(agent_token(*sys.argv[1:2]))
