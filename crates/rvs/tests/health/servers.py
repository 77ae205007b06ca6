#!/usr/bin/env python3
"""Small servers for the health-check lab test (crates/rvs/tests/health.rs), run inside a
real server's network namespace:

  servers.py tls  PORT CERT KEY   HTTPS (self-signed), answers GET with 200 "tls ok"
  servers.py smtp PORT            220 banner, 250 to HELO/EHLO, 221 to QUIT
  servers.py dns  PORT            UDP DNS: answers every query with NOERROR and one A record

Each runs until killed. Only standard library modules."""

import socket
import ssl
import struct
import sys
import threading


def tls(port, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(64)

    def one(conn):
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                s.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 16384:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                body = b"tls ok\n"
                s.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                          + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        except (OSError, ssl.SSLError):
            pass

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=one, args=(conn,), daemon=True).start()


def smtp(port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(64)

    def one(conn):
        try:
            conn.settimeout(5)
            f = conn.makefile("rb")
            conn.sendall(b"220 rvs-test ESMTP ready\r\n")
            for line in f:
                cmd = line.strip().upper()
                if cmd.startswith(b"HELO") or cmd.startswith(b"EHLO"):
                    conn.sendall(b"250 rvs-test\r\n")
                elif cmd.startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    break
                else:
                    conn.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=one, args=(conn,), daemon=True).start()


def dns(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        q, peer = s.recvfrom(4096)
        if len(q) < 12:
            continue
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        # The question: labels up to the zero byte, then QTYPE and QCLASS.
        i = 12
        while i < len(q) and q[i] != 0:
            i += q[i] + 1
        question = q[12:i + 5]
        qtype = struct.unpack("!H", q[i + 1:i + 3])[0] if i + 3 <= len(q) else 1
        hdr = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100), 1, 1, 0, 0)
        rdata = socket.inet_aton("198.18.1.53")
        ans = struct.pack("!HHHLH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata
        s.sendto(hdr + question + ans, peer)


def main():
    kind = sys.argv[1]
    port = int(sys.argv[2])
    if kind == "tls":
        tls(port, sys.argv[3], sys.argv[4])
    elif kind == "smtp":
        smtp(port)
    elif kind == "dns":
        dns(port)
    else:
        sys.exit("unknown server kind " + kind)


if __name__ == "__main__":
    main()
