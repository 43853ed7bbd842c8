"""Logs: [server] log_format and log_file, connection fields, and that no
secret reaches either process's log even at log_level = debug (the Server
class always runs at debug).  The module's server writes JSON lines."""
import base64
import itertools
import json

from conftest import Server, connect, run
from xmpp_raw import body_of, expect_stream_error

SERVER_OPTIONS = {'server_extra': 'log_format = json\n'}

# Distinctive strings: any occurrence in a log is a leak.
PASSWORD = 'Zq7-pass-8d1e4b'
BODY = 'body-5c3a91-confidential'
TOKEN_BODY = 'offline-body-77e2'
_seq = itertools.count(1)


def _b64(b):
    return base64.b64encode(b).decode()


def _secret_forms(user):
    """The secrets as they cross the wire: plain, in the PLAIN payload
    (RFC 4616 §2: authzid NUL authcid NUL passwd) and base64 alone."""
    name = user.split('@')[0]
    return [PASSWORD, BODY, TOKEN_BODY, _b64(PASSWORD.encode()), _b64(BODY.encode()),
            _b64(b'\0' + name.encode() + b'\0' + PASSWORD.encode())]


def _exercise(server):
    """A wrong and a right PLAIN login, a SCRAM login, a chat and an offline
    message: every path that handles a password or a body.  Returns the
    account and the full JID that ended with a stream error."""
    user = server.adduser('secret%d' % next(_seq), PASSWORD)
    peer, ppw = server.new_user('peer')
    bad = server.raw()
    bad.open()
    bad.starttls()
    assert bad.auth_plain(user.split('@')[0], PASSWORD + 'x').tag.endswith('failure')
    bad.close()
    a = server.raw_login(user, PASSWORD, 'a')
    b = server.raw_login(peer, ppw, 'b')
    a.message(b.jid, BODY)
    assert body_of(b.next_message()) == BODY
    b.close()
    a.message(peer, TOKEN_BODY)  # no session left: stored offline
    run(_scram_login(server, user))
    a.send('<unknown-stanza/>')  # a stream error: a logged line with the JID bound
    expect_stream_error(a, 'unsupported-stanza-type')
    return user, a.jid


async def _scram_login(server, user):
    c = await connect(server, user, PASSWORD, resource='s')
    await c.stop()


def _assert_no_secret(server, user):
    log = server.log_text()
    assert 'authenticated' in log, 'the log holds no login at all: the check would be vacuous'
    for s in _secret_forms(user):
        assert s not in log, 'secret %r appears in the log' % s


def test_no_secret_in_json_log(server):
    user, _ = _exercise(server)
    _assert_no_secret(server, user)


def test_no_secret_in_text_log(tmp_path):
    srv = Server(tmp_path)
    srv.start()
    try:
        user, _ = _exercise(srv)
    finally:
        srv.stop()
    srv.check()
    _assert_no_secret(srv, user)


def _events(server, proc):
    return [json.loads(line) for line in server._log(proc).splitlines() if line.strip()]


def test_json_lines_with_connection_fields(server):
    _, full = _exercise(server)
    for proc in ('starling-core', 'starling-cm'):
        evs = _events(server, proc)  # every line parses: one event a line
        assert evs, '%s logged nothing' % proc
        for e in evs:
            assert {'ts', 'level', 'proc', 'msg'} <= e.keys(), e
            assert e['proc'] == proc and e['level'] in ('error', 'warn', 'info', 'debug')
    errs = [e for e in _events(server, 'starling-cm')
            if e.get('jid') == full and 'unsupported-stanza-type' in e['msg']]
    assert errs, 'no stream-error line carrying jid %s' % full
    assert isinstance(errs[0]['conn'], int)
    bare = full.split('/')[0]
    auth = [e for e in _events(server, 'starling-cm') if e['msg'] == 'authenticated ' + bare]
    assert auth and auth[-1].get('jid') == bare, auth


def test_text_format_keeps_connection_prefix(tmp_path):
    srv = Server(tmp_path, server_extra='log_format = text\n')
    srv.start()
    try:
        _exercise(srv)
    finally:
        srv.stop()
    srv.check()
    cm = srv._log('starling-cm')
    assert ' starling-cm info: conn ' in cm and ': stream error <unsupported-stanza-type/>' in cm


def test_log_file(tmp_path):
    path = tmp_path / 'starling.log'
    srv = Server(tmp_path, server_extra='log_format = logfmt\nlog_file = %s\n' % path)
    srv.start()
    srv.stop()
    srv.check()
    text = path.read_text()
    assert 'proc=starling-core' in text and 'proc=starling-cm' in text
    assert 'level=info' in text and 'msg="starting:' in text
    assert 'starting:' not in srv._log('starling-core'), 'lines went to stderr too'
