"""A real SMTP server on loopback for djambda's email tests: aiosmtpd (from PyPI).

    python smtpd.py OUT_DIR [--starttls | --implicit-tls] [--auth USER:PASSWORD]

Prints one JSON line when it listens: {"port": N, "cafile": PATH or null}. Each message that
arrives is written to OUT_DIR/<n>.json as Python's email package reads it (headers decoded,
every leaf part with its type, filename and content), beside the envelope and the raw bytes,
so the Rust test checks what a mail client would see. With TLS, a certificate authority and
a server certificate for 127.0.0.1 and localhost are made with `cryptography` into OUT_DIR;
the CA's file is what the client is told to trust. Stops when its standard input closes.
"""

import argparse
import asyncio
import base64
import datetime
import email
import email.policy
import ipaddress
import json
import os
import socket
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def make_certificates(out_dir):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "djambda test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {name: os.path.join(out_dir, name) for name in ("ca.pem", "server.pem", "server.key")}
    with open(paths["ca.pem"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["server.pem"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["server.key"], "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(paths["server.pem"], paths["server.key"])
    return context, paths["ca.pem"]


def leaves(message):
    out = []
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        entry = {
            "content_type": part.get_content_type(),
            "filename": part.get_filename(),
            "disposition": part.get_content_disposition(),
        }
        if part.get_content_maintype() == "text":
            entry["text"] = payload.decode(part.get_content_charset() or "utf-8")
        entry["base64"] = base64.b64encode(payload).decode()
        out.append(entry)
    return out


class Keeper:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        headers = {}
        for name, value in parsed.items():
            headers.setdefault(name.lower(), []).append(str(value))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "headers": headers,
            "parts": leaves(parsed),
            "raw": raw.decode("utf-8", "replace"),
        }
        path = os.path.join(self.out_dir, f"{self.count:03}.json")
        with open(path + ".part", "w") as f:
            json.dump(record, f)
        os.rename(path + ".part", path)
        return "250 Message accepted for delivery"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--starttls", action="store_true")
    mode.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--auth", help="USER:PASSWORD the server accepts (and requires)")
    parser.add_argument(
        "--hang-on-refusal", action="store_true", help="never answer a refused login (a server that hangs)"
    )
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    context, cafile = (None, None)
    if args.starttls or args.implicit_tls:
        context, cafile = make_certificates(args.out_dir)

    kwargs = {"hostname": "djambda-test-smtpd"}
    if args.starttls:
        kwargs.update(tls_context=context, require_starttls=True)
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login == user.encode()
                and auth_data.password == password.encode()
            )
            # handled=False: aiosmtpd answers 535 itself; handled=True: it answers nothing.
            return AuthResult(success=ok, handled=args.hang_on_refusal and not ok)

        kwargs.update(authenticator=authenticator, auth_required=True)
        # Over implicit TLS the whole session is encrypted, which aiosmtpd cannot see from
        # the SMTP object: let it take a login there as it would after STARTTLS.
        kwargs.update(auth_require_tls=not args.implicit_tls)

    handler = Keeper(args.out_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **kwargs), sock=sock, ssl=context if args.implicit_tls else None
    )
    print(json.dumps({"port": sock.getsockname()[1], "cafile": cafile}), flush=True)
    # Served until the test closes our standard input (or kills us).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
