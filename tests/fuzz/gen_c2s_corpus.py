#!/usr/bin/python3
"""Writes the seed inputs of tests/fuzz/fuzz_c2s.c into tests/fuzz/corpus/fuzz_c2s/.

A seed is one setup byte, then client bytes cut into segments by b"\\xff\\xfe";
the byte after each separator is a harness command (see the comment at the top
of fuzz_c2s.c).  The only account is alice, password "secret", on "localhost".

Usage: /usr/bin/python3 tests/fuzz/gen_c2s_corpus.py
"""
import base64
import os

# setup byte
FAKE_TLS, DIRECT_TLS, NO_REQUIRE_TLS, SMALL, ECHO = 1, 2, 4, 8, 128


def piece(i):
    return i << 4


# commands: op | arg << 3
NONE, STANZA, CLOSE, OPENED, EOF, TIME, CRED, SCRAM = range(8)
(CRED_HOLD, CRED_OTHER, CRED_ERROR, CRED_TRUNC, CRED_NO_USER, CRED_BAD_KEYS, CRED_HUGE,
 CRED_TWICE) = range(8)
# EOF arguments: 0 = half-close now, 1 = the segment bypasses the client's TLS,
# 2..7 = half-close in the same loop turn as the segment's first read
SCRAM_START, SCRAM_RESPOND, SCRAM_SHA1, SCRAM_WRONG = 0, 1, 2, 4
TIME_61S, TIME_STALL, TIME_FAIL_SEND = 1, 2, 4


def cmd(op, arg=0):
    return b"\xff\xfe" + bytes([op | arg << 3])


def sasl(name, mech=None, payload=None):
    """A SASL element: <auth mechanism=...>, <response/>, <abort/>."""
    m = b" mechanism='" + mech + b"'" if mech else b""
    head = b"<" + name + b" xmlns='urn:ietf:params:xml:ns:xmpp-sasl'" + m
    return head + b"/>" if payload is None else head + b">" + payload + b"</" + name + b">"


HDR = (b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
       b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
PLAIN = sasl(b"auth", b"PLAIN", b"AGFsaWNlAHNlY3JldA==")  # \0alice\0secret
PLAIN_BAD = sasl(b"auth", b"PLAIN", b"AGFsaWNlAHdyb25n")  # \0alice\0wrong
PLAIN_BOB = sasl(b"auth", b"PLAIN", b"AGJvYgBzZWNyZXQ=")  # \0bob\0secret
# alice@localhost \0alice\0secret
PLAIN_AUTHZID = sasl(b"auth", b"PLAIN", b"YWxpY2VAbG9jYWxob3N0AGFsaWNlAHNlY3JldA==")
SCRAM_FIRST_B64 = b"biwsbj1hbGljZSxyPWFiY2RlZg=="  # n,,n=alice,r=abcdef
SCRAM_FIRST = sasl(b"auth", b"SCRAM-SHA-256", SCRAM_FIRST_B64)
# n,a=bob@localhost,n=alice,r=abc
SCRAM_AUTHZID = sasl(b"auth", b"SCRAM-SHA-256", b"bixhPWJvYkBsb2NhbGhvc3Qsbj1hbGljZSxyPWFiYw==")

def b64(text):
    return base64.b64encode(text)


# RFC 5802 §6 over real TLS (direct TLS seeds): -PLUS with each binding type,
# types we do not have, 'y' while -PLUS is offered, 'p=' on a plain mechanism.
PLUS_EXPORTER = sasl(b"auth", b"SCRAM-SHA-256-PLUS", b64(b"p=tls-exporter,,n=alice,r=abcdef"))
PLUS_END_POINT = sasl(b"auth", b"SCRAM-SHA-1-PLUS",
                      b64(b"p=tls-server-end-point,a=alice@localhost,n=alice,r=abc"))
PLUS_UNIQUE = sasl(b"auth", b"SCRAM-SHA-256-PLUS", b64(b"p=tls-unique,,n=alice,r=abc"))
PLUS_N = sasl(b"auth", b"SCRAM-SHA-256-PLUS", b64(b"n,,n=alice,r=abc"))
PLAIN_Y = sasl(b"auth", b"SCRAM-SHA-256", b64(b"y,,n=alice,r=abc"))
PLAIN_P = sasl(b"auth", b"SCRAM-SHA-1", b64(b"p=tls-exporter,,n=alice,r=abc"))
EXTERNAL = sasl(b"auth", b"EXTERNAL", b"=")
BIND = (b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        b"<resource>phone</resource></bind></iq>")
BIND_AUTO = b"<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
SESSION = b"<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"
MSG = b"<message to='bob@localhost' type='chat' id='m1'><body>hi &amp; &#x263a;</body></message>"
TRAFFIC = (b"<presence/>" + MSG +
           b"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
           b"<message to='bad@@jid' id='x'/><presence type='bogus'/>"
           b"<iq type='get' id='v' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
CLOSE_STREAM = b"</stream:stream>"
LOGIN = PLAIN + cmd(NONE) + HDR + BIND
SM_ENABLE = b"<enable xmlns='urn:xmpp:sm:3'/>"

SEEDS = {
    "plain_bind_message": bytes([FAKE_TLS]) + HDR + LOGIN + SESSION + TRAFFIC + CLOSE_STREAM,
    "plain_echo_core": bytes([FAKE_TLS | ECHO]) + HDR + LOGIN + TRAFFIC + cmd(STANZA, 0) +
    cmd(STANZA, 2) + cmd(STANZA, 3) + cmd(STANZA, 7) + MSG + cmd(CLOSE, 2),
    "plain_pieces": bytes([FAKE_TLS | piece(1)]) + HDR + LOGIN + MSG + CLOSE_STREAM,
    "plain_pieces13": bytes([FAKE_TLS | piece(6) | ECHO]) + HDR + LOGIN + BIND_AUTO + TRAFFIC,
    "plain_wrong_password": bytes([FAKE_TLS]) + HDR + PLAIN_BAD + cmd(NONE) + PLAIN_BOB +
    cmd(NONE) + PLAIN_BAD + cmd(NONE) + PLAIN,
    "plain_cred_variants": bytes([FAKE_TLS]) + HDR + PLAIN + cmd(CRED, CRED_OTHER) +
    cmd(CRED, CRED_TRUNC) + PLAIN + cmd(CRED, CRED_BAD_KEYS) + PLAIN + cmd(CRED, CRED_HUGE) +
    PLAIN,
    "plain_hold": bytes([FAKE_TLS]) + HDR + PLAIN + cmd(CRED, CRED_HOLD) + sasl(b"abort") +
    cmd(CRED, CRED_TWICE) + PLAIN + cmd(CRED, CRED_ERROR) + PLAIN + cmd(CRED, CRED_NO_USER),
    "plain_session_refused": bytes([FAKE_TLS]) + HDR + LOGIN + cmd(OPENED, 3) + MSG,
    "plain_shutdown": bytes([FAKE_TLS]) + HDR + LOGIN + cmd(CLOSE, 3) + MSG,
    "revoked": bytes([FAKE_TLS]) + HDR + LOGIN + cmd(CLOSE, 4) + MSG,
    "authzid": bytes([FAKE_TLS]) + HDR + PLAIN_AUTHZID + cmd(NONE) + HDR + BIND + BIND + MSG,
    "auth_after_success": bytes([FAKE_TLS]) + HDR + PLAIN + cmd(NONE) + HDR + PLAIN,
    "auth_four_times": bytes([NO_REQUIRE_TLS]) + HDR + sasl(b"auth", b"SCRAM-SHA-1") * 4,
    "mechanisms": bytes([NO_REQUIRE_TLS]) + HDR + sasl(b"auth", b"PLAIN", b"=") +
    sasl(b"auth", b"X-OAUTH") + sasl(b"auth", b"SCRAM-SHA-256", b"!!") +
    sasl(b"auth", b"SCRAM-SHA-256", b"="),
    "scram_scripted": bytes([FAKE_TLS]) + HDR + cmd(SCRAM, SCRAM_START) +
    cmd(SCRAM, SCRAM_RESPOND) + HDR + BIND + MSG + CLOSE_STREAM,
    "scram_sha1_wrong": bytes([NO_REQUIRE_TLS]) + HDR +
    cmd(SCRAM, SCRAM_START | SCRAM_SHA1 | SCRAM_WRONG) +
    cmd(SCRAM, SCRAM_RESPOND | SCRAM_SHA1 | SCRAM_WRONG),
    "scram_fuzzer_first": bytes([FAKE_TLS]) + HDR + SCRAM_FIRST + cmd(NONE) +
    sasl(b"response", None, b"Yz1iaXdzLHI9YWJjZGVmLHA9eA=="),  # c=biws,r=abcdef,p=x
    "scram_empty_initial": bytes([NO_REQUIRE_TLS]) + HDR + sasl(b"auth", b"SCRAM-SHA-1") +
    sasl(b"response", None, SCRAM_FIRST_B64),
    "scram_authzid_other": bytes([FAKE_TLS]) + HDR + SCRAM_AUTHZID +
    sasl(b"auth", b"SCRAM-SHA-256") + sasl(b"response"),
    "starttls_required": bytes([0]) + HDR + PLAIN + MSG,
    "starttls_proceed": bytes([0]) + HDR + STARTTLS + cmd(NONE) + HDR + PLAIN + cmd(NONE) + HDR +
    BIND + MSG + CLOSE_STREAM,
    "starttls_garbage": bytes([0]) + HDR + STARTTLS + cmd(EOF, 1) + b"\x16\x03\x01\x00\x05hello",
    "starttls_plain_in_tls": bytes([0]) + HDR + STARTTLS + cmd(NONE) + b"<garbage/>",
    "starttls_twice": bytes([FAKE_TLS]) + HDR + STARTTLS,
    "starttls_after_sasl_start": bytes([NO_REQUIRE_TLS]) + HDR + sasl(b"auth", b"SCRAM-SHA-1") +
    STARTTLS + cmd(NONE) + HDR + sasl(b"response", None, SCRAM_FIRST_B64),
    "direct_tls_login": bytes([DIRECT_TLS | ECHO]) + HDR + LOGIN + MSG + cmd(STANZA, 1) +
    CLOSE_STREAM,
    "scram_plus_direct_tls": bytes([DIRECT_TLS]) + HDR + PLUS_EXPORTER + cmd(NONE) +
    sasl(b"response", None, b64(b"c=cD10bHMtZXhwb3J0ZXIsLA==,r=abcdef,p=eA==")) +
    PLUS_END_POINT + cmd(NONE) + sasl(b"abort") + PLUS_UNIQUE,
    "scram_plus_flags": bytes([DIRECT_TLS]) + HDR + PLUS_N + PLAIN_Y + PLAIN_P,
    "scram_plus_fake_tls": bytes([FAKE_TLS]) + HDR + PLUS_EXPORTER + EXTERNAL + PLAIN_Y,
    "direct_tls_bad_record": bytes([DIRECT_TLS]) + HDR + cmd(EOF, 1) +
    b"\x17\x03\x03\x00\x10" + b"0123456789abcdef",
    "direct_tls_plaintext": bytes([DIRECT_TLS]) + cmd(EOF, 1) + HDR,
    "direct_tls_after_handshake_plain": bytes([DIRECT_TLS]) + HDR + cmd(EOF, 1) + HDR,
    "tls_close_notify": bytes([DIRECT_TLS]) + HDR + LOGIN + b"<message type='error' to='x@@y'/>" +
    cmd(EOF, 0),
    "halfclose_same_turn_tls": bytes([DIRECT_TLS]) + HDR + LOGIN + cmd(EOF, 2) + SESSION,
    "halfclose_same_turn": bytes([FAKE_TLS | ECHO]) + HDR + LOGIN + cmd(EOF, 3) + MSG + SESSION,
    "close_then_eof": bytes([FAKE_TLS]) + HDR + LOGIN + CLOSE_STREAM + cmd(EOF) + cmd(TIME, 0),
    "eof_mid": bytes([FAKE_TLS]) + HDR + LOGIN + b"<message>" + cmd(EOF) + MSG,
    "login_timeout": bytes([FAKE_TLS]) + HDR + cmd(TIME, TIME_61S) + PLAIN,
    "stalled_close": bytes([FAKE_TLS]) + HDR + LOGIN + cmd(TIME, TIME_STALL) + MSG + CLOSE_STREAM +
    cmd(CLOSE, 2) + cmd(STANZA, 0) + cmd(TIME, 0),
    "stalled_eof": bytes([DIRECT_TLS | ECHO]) + HDR + LOGIN + cmd(TIME, TIME_STALL) + MSG +
    cmd(EOF, 0) + cmd(TIME, TIME_STALL),
    "send_reset": bytes([FAKE_TLS | ECHO]) + HDR + LOGIN + cmd(TIME, TIME_FAIL_SEND) + MSG,
    "bad_xml": bytes([FAKE_TLS]) + HDR + b"<message><body>x</mess>",
    "restricted_xml": bytes([FAKE_TLS]) + HDR + b"<!-- c --><message/>",
    "dtd": bytes([FAKE_TLS]) + b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>" + HDR,
    "too_big": bytes([FAKE_TLS | SMALL]) + HDR + b"<message>" + b"A" * 1100 + b"</message>",
    "bad_header_ns": bytes([FAKE_TLS]) + b"<stream:stream xmlns='jabber:server' "
    b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
    "bad_host": bytes([FAKE_TLS]) + HDR.replace(b"localhost", b"example.org"),
    "bad_version": bytes([FAKE_TLS]) + HDR.replace(b"'1.0'>", b"'2.0'>"),
    "stanza_before_auth": bytes([FAKE_TLS]) + HDR + MSG,
    "unknown_nonza": bytes([FAKE_TLS]) + HDR + b"<foo xmlns='urn:x'/>",
    # XEP-0198: enable before and after bind, twice, requests, acks (good, too
    # high, not a number), resume; stanzas from the core to be acked or returned.
    "sm": bytes([FAKE_TLS | ECHO]) + HDR + PLAIN + cmd(NONE) + HDR + SM_ENABLE + BIND +
    SM_ENABLE + SM_ENABLE + MSG + b"<r xmlns='urn:xmpp:sm:3'/>" + cmd(STANZA, 0) +
    b"<a xmlns='urn:xmpp:sm:3' h='1'/>" + cmd(STANZA, 0) + b"<a xmlns='urn:xmpp:sm:3' h='x'/>" +
    b"<resume xmlns='urn:xmpp:sm:3' previd='a' h='0'/>" + b"<a xmlns='urn:xmpp:sm:3' h='99'/>",
    # XEP-0198 §5: a resumable session loses its connection and waits
    # (detached); resumption requests with good and bad SM-IDs.
    "sm_resume_eof": bytes([FAKE_TLS | ECHO]) + HDR + LOGIN +
    b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>" + MSG + cmd(STANZA, 0) + cmd(EOF) +
    cmd(STANZA, 0),
    "sm_resume_req": bytes([FAKE_TLS | ECHO]) + HDR + PLAIN + cmd(NONE) + HDR +
    b"<resume xmlns='urn:xmpp:sm:3' previd='0.1.0123456789abcdef0123456789abcdef' h='0'/>" +
    b"<resume xmlns='urn:xmpp:sm:3' previd='0.1.01' h='x'/>" + BIND +
    b"<enable xmlns='urn:xmpp:sm:3' resume='1'/>" + MSG + cmd(STANZA, 0) + CLOSE_STREAM,
    # A resumption of an SM-ID this cm does not hold, asked of the core: taken
    # up (token starting '0'), unknown ('1': the stream binds instead), or
    # with an 'h' above what was sent (the session ends, the stream binds).
    "sm_unpark": bytes([FAKE_TLS | ECHO]) + HDR + PLAIN + cmd(NONE) + HDR +
    b"<resume xmlns='urn:xmpp:sm:3' previd='9.1.0123456789abcdef0123456789abcdef' h='0'/>" +
    cmd(NONE) + MSG + b"<r xmlns='urn:xmpp:sm:3'/><a xmlns='urn:xmpp:sm:3' h='1'/>" + cmd(STANZA, 0) +
    CLOSE_STREAM,
    "sm_unpark_unknown": bytes([FAKE_TLS | ECHO]) + HDR + PLAIN + cmd(NONE) + HDR +
    b"<resume xmlns='urn:xmpp:sm:3' previd='9.1.1123456789abcdef0123456789abcdef' h='0'/>" +
    cmd(NONE) + BIND + MSG + CLOSE_STREAM,
    "sm_unpark_too_high": bytes([FAKE_TLS | ECHO]) + HDR + PLAIN + cmd(NONE) + HDR +
    b"<resume xmlns='urn:xmpp:sm:3' previd='9.1.0123456789abcdef0123456789abcdef' h='5'/>" +
    cmd(NONE) + BIND + MSG + CLOSE_STREAM,
    "sm_eof_unacked": bytes([FAKE_TLS | ECHO]) + HDR + LOGIN + SM_ENABLE + MSG + cmd(STANZA, 0) +
    cmd(EOF),
    # XEP-0352: inactive holds presence, a message flushes it, active flushes.
    "csi": bytes([FAKE_TLS | ECHO]) + HDR + b"<inactive xmlns='urn:xmpp:csi:0'/>" + LOGIN +
    b"<inactive xmlns='urn:xmpp:csi:0'/><presence/>" + cmd(STANZA, 0) + MSG + cmd(STANZA, 0) +
    b"<presence><status>x</status></presence>" + cmd(STANZA, 0) +
    b"<active xmlns='urn:xmpp:csi:0'/><inactive xmlns='urn:xmpp:csi:0'/>" + CLOSE_STREAM,
}

def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_c2s")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
