"""Virtual hosts: several hosted domains in one server ([server] hosts), each
account isolated from the same localpart in another domain; routing between
the hosted domains is local.  slixmpp for the client flows, raw XML where the
stream header or SASL itself is under test."""
import asyncio
import base64
import subprocess
import xml.etree.ElementTree as ET

from conftest import connect, expect, full_roster, run
from test_roster_presence import befriend
from xmpp_raw import (NS_BIND, NS_SASL, NS_TLS, expect_stream_error, q, stanza_error,
                      stream_header)

A, B = 'a.example', 'b.example'
SERVER_OPTIONS = {'hosts': [A, B]}
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
NS_PING = 'urn:xmpp:ping'


def _plain(server, domain, user, password):
    """STARTTLS and SASL PLAIN on a stream to domain: the stream, the server's
    header 'from' and the <success/> or <failure/> element."""
    s = server.raw(domain)
    feats = s.open()
    assert feats.find(q(NS_TLS, 'starttls')) is not None
    s.starttls()
    frm = s.root.get('from')
    return s, frm, s.auth_plain(user, password)


def _ctl(server, *args):
    """starlingctl, its exit status and output (failures allowed)."""
    r = subprocess.run([str(server.bin / 'starlingctl'), '-c', str(server.conf)] + list(args),
                       capture_output=True, text=True, timeout=60, env=server._env(),
                       cwd=str(server.dir))
    return r.returncode, r.stdout + r.stderr


def test_same_localpart_two_accounts(server):
    """alice@A and alice@B are two accounts: each password works only in its
    own domain, the JID is bound in the stream's domain, and the server's
    header names the domain the client asked for (RFC 6120 §4.7.1)."""
    server.adduser('alice', 'pw-a', domain=A)
    server.adduser('alice', 'pw-b', domain=B)
    for domain, good, bad in ((A, 'pw-a', 'pw-b'), (B, 'pw-b', 'pw-a')):
        s, frm, el = _plain(server, domain, 'alice', bad)
        try:
            assert frm == domain
            assert el.tag == q(NS_SASL, 'failure'), ET.tostring(el)
            assert el.find(q(NS_SASL, 'not-authorized')) is not None, ET.tostring(el)
        finally:
            s.close()
        s, frm, el = _plain(server, domain, 'alice', good)
        try:
            assert frm == domain
            assert el.tag == q(NS_SASL, 'success'), ET.tostring(el)
            feats = s.open()
            assert s.root.get('from') == domain
            assert feats.find(q(NS_BIND, 'bind')) is not None
            assert s.bind('r') == 'alice@%s/r' % domain
        finally:
            s.close()
    # Neither account exists in the primary domain.
    s, frm, el = _plain(server, server.domain, 'alice', 'pw-a')
    try:
        assert frm == server.domain and el.tag == q(NS_SASL, 'failure')
    finally:
        s.close()


def test_authzid_names_the_streams_domain(server):
    """RFC 6120 §6.3.8: the authzid may only be the account itself, in the
    domain of the stream."""
    server.adduser('zed', 'pw-z', domain=B)
    for authzid, ok in (('zed@' + B, True), ('zed@' + A, False)):
        s = server.raw(B)
        try:
            s.open()
            s.starttls()
            tok = base64.b64encode(
                ('%s\0zed\0pw-z' % authzid).encode()).decode()
            s.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, tok))
            el = s.next_element()
            assert (el.tag == q(NS_SASL, 'success')) == ok, ET.tostring(el)
        finally:
            s.close()


def test_unhosted_domain_is_host_unknown(server):
    """RFC 6120 §4.9.3.6: a stream to a domain not hosted here."""
    for to in ('c.example', 'a.example.org', 'example'):
        s = server.raw()
        try:
            s.send(stream_header(to))
            expect_stream_error(s, 'host-unknown')
        finally:
            s.close()


def test_restart_in_another_domain_refused(server):
    """After SASL the stream restarts (RFC 6120 §6.4.6) for the domain the
    account authenticated in; naming another hosted domain is host-unknown,
    not a login there."""
    server.adduser('max', 'pw-m', domain=A)
    s, _, el = _plain(server, A, 'max', 'pw-m')
    try:
        assert el.tag == q(NS_SASL, 'success')
        s._new_parser()
        s.send(stream_header(B))
        expect_stream_error(s, 'host-unknown')
    finally:
        s.close()


def test_disco_and_ping_to_second_domain(server):
    """The server answers for each hosted domain in its own name (RFC 6120
    §10.5.1), whichever domain the requester is in."""
    jid = server.adduser('dora', 'pw-d', domain=A)
    s = server.raw_login(jid, 'pw-d', 'r')
    try:
        for dom in (B, A, server.domain):
            el = s.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=dom)
            assert el.get('type') == 'result' and el.get('from') == dom, ET.tostring(el)
            query = el.find(q(NS_DISCO_INFO, 'query'))
            assert query is not None
            ident = query.find(q(NS_DISCO_INFO, 'identity'))
            assert ident is not None and ident.get('category') == 'server', ET.tostring(el)
            el = s.iq('get', "<ping xmlns='%s'/>" % NS_PING, to=dom)
            assert el.get('type') == 'result' and el.get('from') == dom, ET.tostring(el)
        # A domain not hosted is remote: no s2s (RFC 6120 §10.4).
        el = s.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to='c.example')
        assert el.get('type') == 'error' and stanza_error(el) == 'remote-server-not-found'
    finally:
        s.close()


def test_message_across_domains(server):
    """alice@A to bob@B: local delivery, stamped with alice's full JID."""
    aj = server.adduser('amsg', 'pw1', domain=A)
    bj = server.adduser('bmsg', 'pw2', domain=B)
    # The same localpart in the other domain must not get it.
    twin = server.adduser('bmsg', 'pw3', domain=A)

    async def scenario():
        a = await connect(server, aj, 'pw1', resource='ra', presence=True)
        b = await connect(server, bj, 'pw2', resource='rb', presence=True)
        t = await connect(server, twin, 'pw3', resource='rt', presence=True)
        assert str(a.boundjid) == aj + '/ra' and str(b.boundjid) == bj + '/rb'
        a.send_message(mto=bj, mbody='across', mtype='chat')
        m = await expect(b.messages, lambda m: m['body'] == 'across', 'message at bob@B')
        assert str(m['from']) == aj + '/ra' and m['to'].bare == bj
        await asyncio.sleep(0.5)
        assert all(m['body'] != 'across' for m in list(t.messages._queue)), \
            'bmsg@A got a message for bmsg@B'
        for c in (a, b, t):
            await c.stop()
    run(scenario())


def test_subscription_across_domains(server):
    """RFC 6121 §3: a mutual subscription between accounts of two hosted
    domains; presence then flows between them with the right JIDs."""
    aj = server.adduser('asub', 'pw1', domain=A)
    bj = server.adduser('bsub', 'pw2', domain=B)

    async def scenario():
        a = await connect(server, aj, 'pw1', presence=True)
        b = await connect(server, bj, 'pw2', presence=True)
        await befriend(a, b)
        ra, rb = await full_roster(a), await full_roster(b)
        assert ra[bj]['subscription'] == 'both', ra
        assert rb[aj]['subscription'] == 'both', rb
        a.send_presence(pstatus='here in A')
        p = await expect(b.presences,
                         lambda p: p['from'].bare == aj and p['status'] == 'here in A',
                         'alice@A presence at bob@B')
        assert str(p['from']) == str(a.boundjid)
        await a.stop()
        await expect(b.presences,
                     lambda p: p['from'].bare == aj and p['type'] == 'unavailable',
                     'alice@A unavailable at bob@B')
        await b.stop()
    run(scenario())


def test_offline_message_isolated(server):
    """An offline message for carol@A waits for carol@A; carol@B never sees
    it.  The delay stamp (XEP-0203) names carol@A's server."""
    ca = server.adduser('carol', 'pw-ca', domain=A)
    cb = server.adduser('carol', 'pw-cb', domain=B)
    sj = server.adduser('sender', 'pw-s', domain=B)

    async def scenario():
        s = await connect(server, sj, 'pw-s', presence=True)
        s.send_message(mto=ca, mbody='for carol in A', mtype='chat')
        await asyncio.sleep(0.5)
        await s.stop()
        b = await connect(server, cb, 'pw-cb', presence=True)
        await asyncio.sleep(1.0)
        assert all(m['body'] != 'for carol in A' for m in list(b.messages._queue)), \
            'carol@B got carol@A\'s offline message'
        await b.stop()
        a = await connect(server, ca, 'pw-ca', presence=True)
        m = await expect(a.messages, lambda m: m['body'] == 'for carol in A',
                         'offline message at carol@A')
        assert m['from'].bare == sj
        delay = m.xml.find('{urn:xmpp:delay}delay')
        assert delay is not None and delay.get('from') == A, m
        await a.stop()
    run(scenario())


def test_starlingctl_domains(server):
    """adduser/passwd/deluser take a JID in any hosted domain (a bare
    localpart means the primary one); users lists bare JIDs; a domain not
    hosted is refused."""
    rc, out = _ctl(server, 'adduser', 'ctl@' + B, 'pw')
    assert rc == 0 and out.strip() == 'adduser: ctl@' + B, out
    rc, out = _ctl(server, 'adduser', 'ctl', 'pw2')
    assert rc == 0 and out.strip() == 'adduser: ctl@' + server.domain, out
    rc, out = _ctl(server, 'adduser', 'ctl@' + B.upper(), 'pw')
    assert rc == 1 and 'already exists' in out, out
    rc, out = _ctl(server, 'adduser', 'ctl@c.example', 'pw')
    assert rc == 1 and 'not a hosted domain' in out, out
    rc, out = _ctl(server, 'users')
    users = out.split()
    assert rc == 0 and 'ctl@' + B in users and 'ctl@' + server.domain in users, out
    assert 'ctl@' + A not in users and all('@' in u for u in users), out
    rc, out = _ctl(server, 'passwd', 'ctl@' + B, 'newpw')
    assert rc == 0, out
    s, _, el = _plain(server, B, 'ctl', 'newpw')
    s.close()
    assert el.tag == q(NS_SASL, 'success'), ET.tostring(el)
    s, _, el = _plain(server, server.domain, 'ctl', 'pw2')
    s.close()
    assert el.tag == q(NS_SASL, 'success'), ET.tostring(el)
    rc, out = _ctl(server, 'deluser', 'ctl@' + B)
    assert rc == 0, out
    rc, out = _ctl(server, 'users')
    assert 'ctl@' + B not in out.split() and 'ctl@' + server.domain in out.split(), out
    rc, out = _ctl(server, 'provision', 'pv%d@' + A, '3', 'pw', '--contacts', '2')
    assert rc == 0 and out.strip() == 'provision: 3 accounts (pv1..pv3@%s), 2 contacts each' % A, out
    s, _, el = _plain(server, A, 'pv2', 'pw')
    s.close()
    assert el.tag == q(NS_SASL, 'success'), ET.tostring(el)
