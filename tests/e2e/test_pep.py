"""Personal Eventing Protocol (XEP-0163), the profile of Publish-Subscribe
(XEP-0060) that makes every account a pubsub service at its bare JID.

What this file proves, on the wire (raw XML) and with slixmpp's own plugins:
- disco#info of an account names the pubsub/pep identity and the PEP
  features, to the owner and to a subscriber; the server's own does not;
- publish with auto-create and server-made item ids, retrieve (all items,
  the newest max_items, one item by id), republish replacing an item, the
  node's max_items, and every publish error (forbidden, nodeid-required,
  item-required, invalid-payload, payload-too-big);
- the access models presence (the default), open and whitelist;
- publish-options as preconditions (XEP-0060 §7.1.5) and node configuration
  (#owner configure get/set, create with and without configure);
- retract, purge and delete, with their notifications;
- notifications filtered by entity capabilities (XEP-0115): the server asks
  a resource with an unknown caps 'ver' for its disco#info, caches the answer
  by 'ver', and notifies only the owner's resources and contacts with a
  subscription from/both whose features name 'node+notify', never a blocked
  contact (XEP-0191); the last published item on initial presence (§4.3.2);
- nodes and items outlive a restart of the server.

"Nothing arrived" is proved by ordering, never by a timer: after the stanza
under test the publisher sends a chat marker to the receiver (the core handles
one stream's stanzas in order), or the receiver pings the server (answered
after everything already queued for it); what came before is all there was."""
import asyncio
import base64
import hashlib
import itertools
import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr

from slixmpp.stanza import Iq

from conftest import WAIT, connect, run
from test_subscription_rules import _roster, subscribe
from xmpp_raw import NS_CLIENT, NS_STANZA_ERR, new_id, q, stanza_error

# The payload-too-big case needs a stanza over 128 KiB through the cm, and the
# storage bound 8 MiB from one client: above [c2s] read_rate's 256 KiB/s.
SERVER_OPTIONS = {'max_stanza_size': 524288, 'c2s_extra': 'read_rate = 67108864\n'}

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_ERRORS = NS_PUBSUB + '#errors'
NS_OWNER = NS_PUBSUB + '#owner'
NS_EVENT = NS_PUBSUB + '#event'
NS_DISCO = 'http://jabber.org/protocol/disco#info'
NS_CAPS = 'http://jabber.org/protocol/caps'
NS_XDATA = 'jabber:x:data'
NS_BLOCK = 'urn:xmpp:blocking'
NS_PING = 'urn:xmpp:ping'
NS_TUNE = 'http://jabber.org/protocol/tune'
NS_ENTRY = 'urn:starling:test:pep:entry'  # the payloads published here
FORM_PUBLISH = NS_PUBSUB + '#publish-options'
FORM_CONFIG = NS_PUBSUB + '#node_config'
CAPS_NODE = 'https://starling.test/pep-client'
PAYLOAD_LIMIT = 131072

PEP_FEATURES = ['publish', 'publish-options', 'retrieve-items', 'retract-items',
                'purge-nodes', 'delete-nodes', 'create-nodes', 'config-node', 'auto-create',
                'persistent-items', 'access-presence', 'access-open', 'access-whitelist',
                'filtered-notifications', 'last-published', 'item-ids']

_nodes = itertools.count(1)


def _node(what='node'):
    """A node name no other test uses, so the caps 'ver' of a client that
    wants its notifications (it names 'node+notify') is new to the server."""
    return 'urn:starling:test:pep:%s:%d' % (what, next(_nodes))


# -- entity capabilities (XEP-0115) ---------------------------------------

def caps_ver(identities, features):
    """XEP-0115 §5.1: the SHA-1 verification string of identities, each
    (category, type, lang, name), and features (no extended forms)."""
    ids = sorted('%s/%s/%s/%s' % i for i in identities)
    s = ''.join(i + '<' for i in ids)
    s += ''.join(f + '<' for f in sorted(features, key=lambda f: f.encode()))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


# The example of XEP-0115 §5.2, so a wrong hash here cannot pass for a server bug.
assert caps_ver([('client', 'pc', '', 'Exodus 0.9.1')], [
    'http://jabber.org/protocol/caps', 'http://jabber.org/protocol/disco#info',
    'http://jabber.org/protocol/disco#items', 'http://jabber.org/protocol/muc']) \
    == 'QgayPKawpkPSDYmwT/WM94uAlu0='


# -- a raw session that keeps what it has not consumed ----------------------

def _is(el, kind):
    return el.tag == q(NS_CLIENT, kind)


def _xml(el):
    return ET.tostring(el).decode(errors='replace')


class Peer:
    """One bound raw session.  Unlike RawStream.iq, nothing read while
    waiting for something else is dropped: it waits in self.backlog."""

    IDENTITY = ('client', 'pc', '', 'Starling PEP test')

    def __init__(self, server, jid, password, resource):
        self.server = server
        self.s = server.raw_login(jid, password, resource)
        self.full = self.s.jid
        self.bare = jid
        self.backlog = []
        self.features = None
        self.ver = None

    def __repr__(self):
        return self.full

    def close(self):
        self.s.close()

    def send(self, xml):
        self.s.send(xml)

    def take(self, pred):
        """The first element (backlog first) for which pred is true; the
        others read meanwhile stay in the backlog."""
        for i, el in enumerate(self.backlog):
            if pred(el):
                return self.backlog.pop(i)
        while True:
            el = self.s.next_element()
            if pred(el):
                return el
            self.backlog.append(el)

    def iq(self, type_, payload, to=None):
        rid = new_id('pep')
        self.send("<iq type='%s' id='%s'%s>%s</iq>"
                  % (type_, rid, " to='%s'" % to if to else '', payload))
        return self.take(lambda e: _is(e, 'iq') and e.get('id') == rid
                         and e.get('type') in ('result', 'error'))

    def sync(self):
        """A ping answered by the server: whatever the server had queued for
        this session before it is now in the backlog."""
        r = self.iq('get', "<ping xmlns='%s'/>" % NS_PING)
        assert r.get('type') == 'result', _xml(r)

    def mark(self, target):
        """A chat marker to target's full JID; returns its id."""
        mid = new_id('mark')
        self.send("<message type='chat' id='%s' to='%s'><body>marker</body></message>"
                  % (mid, target.full))
        return mid

    def until(self, marker_id):
        """Every element before the marker message (consumed with them)."""
        got = []
        while True:
            el = self.backlog.pop(0) if self.backlog else self.s.next_element()
            if _is(el, 'message') and el.get('id') == marker_id:
                return got
            got.append(el)

    def drain(self):
        got, self.backlog = self.backlog, []
        return got

    # -- presence with caps, and the server's disco#info query --------------

    def online(self, features=None, node=CAPS_NODE):
        """Initial presence, with entity caps when features (a list) is given,
        then answer the server's disco#info query for node#ver if it sends
        one.  Returns that query, or None when the server did not ask (it
        asks while handling the presence, so before the ping's answer)."""
        if features is None:
            self.send('<presence/>')
            self.sync()
            return None
        self.features = ['http://jabber.org/protocol/caps', NS_DISCO] + list(features)
        self.ver = caps_ver([self.IDENTITY], self.features)
        self.send("<presence><c xmlns='%s' hash='sha-1' node=%s ver=%s/></presence>"
                  % (NS_CAPS, quoteattr(node), quoteattr(self.ver)))
        self.sync()
        query = None
        for el in self.backlog:
            if _is(el, 'iq') and el.get('type') == 'get' and el.find(q(NS_DISCO, 'query')) \
                    is not None:
                query = el
                break
        if query is None:
            return None
        self.backlog.remove(query)
        assert query.get('from') == self.server.domain, _xml(query)
        assert query.get('to') == self.full, _xml(query)
        qnode = query.find(q(NS_DISCO, 'query')).get('node')
        assert qnode == '%s#%s' % (node, self.ver), _xml(query)
        cat, typ, _, name = self.IDENTITY
        self.send("<iq type='result' id=%s to=%s><query xmlns='%s' node=%s>"
                  "<identity category='%s' type='%s' name=%s/>%s</query></iq>"
                  % (quoteattr(query.get('id')), quoteattr(query.get('from')), NS_DISCO,
                     quoteattr(qnode), cat, typ, quoteattr(name),
                     ''.join('<feature var=%s/>' % quoteattr(f) for f in self.features)))
        self.sync()  # the server has the answer (and sent what it causes)
        return query


def _asked(peer, features):
    """peer becomes available with caps naming features, and the server
    asks it for them (their 'ver' is new to the server)."""
    query = peer.online(features)
    assert query is not None, ('%s: no disco#info query from the server for its caps '
                               '(ver %s)' % (peer, peer.ver))
    return query


# -- accounts and subscriptions --------------------------------------------

def _users(server, *names):
    return [server.new_user(n) for n in names]


def _subscribe(server, sub, to):
    """sub = (jid, password) gets a presence subscription to `to`'s account,
    approved: `to`'s roster has sub with 'from', sub's has `to` with 'to'.
    Done by two short raw sessions (RFC 6121 §3.1) so that the sessions of
    the test itself start with their own initial presence."""
    x = server.raw_login(sub[0], sub[1], 'setup')
    y = server.raw_login(to[0], to[1], 'setup')
    try:
        for s in (x, y):
            _roster(s)
            s.presence()
        subscribe(x, y, sub[0], to[0])
        for s in (x, y):
            r = s.iq('get', "<ping xmlns='%s'/>" % NS_PING)
            assert r.get('type') == 'result', _xml(r)
    finally:
        x.close()
        y.close()


# -- pubsub stanzas ---------------------------------------------------------

def _entry(text):
    return "<entry xmlns='%s'>%s</entry>" % (NS_ENTRY, text)


def _form(form_type, fields, type_='submit'):
    """A data form (XEP-0004); fields: {var: value}."""
    return ("<x xmlns='%s' type='%s'><field var='FORM_TYPE' type='hidden'><value>%s</value>"
            "</field>%s</x>" % (NS_XDATA, type_, form_type, ''.join(
                "<field var=%s><value>%s</value></field>" % (quoteattr(k), v)
                for k, v in fields.items())))


def _options(**fields):
    """<publish-options/> with pubsub#<name> fields."""
    return '<publish-options>%s</publish-options>' % _form(
        FORM_PUBLISH, {'pubsub#' + k: v for k, v in fields.items()})


def _publish(s, node, item_id='current', payload=None, options=None, to=None, text='x'):
    """Publish one item; item_id None sends <item/> without an id."""
    item = '<item%s>%s</item>' % ('' if item_id is None else ' id=%s' % quoteattr(item_id),
                                 _entry(text) if payload is None else payload)
    return s.iq('set', "<pubsub xmlns='%s'><publish node=%s>%s</publish>%s</pubsub>"
                % (NS_PUBSUB, quoteattr(node), item, options or ''), to=to)


def _published(r, node):
    """The item id the result of a publish names (XEP-0060 §7.1.2)."""
    assert r.get('type') == 'result', _xml(r)
    pub = r.find('%s/%s' % (q(NS_PUBSUB, 'pubsub'), q(NS_PUBSUB, 'publish')))
    assert pub is not None and pub.get('node') == node, _xml(r)
    items = pub.findall(q(NS_PUBSUB, 'item'))
    assert len(items) == 1 and items[0].get('id') and len(items[0]) == 0, _xml(r)
    return items[0].get('id')


def _ok_publish(s, node, item_id='current', **kw):
    got = _published(_publish(s, node, item_id, **kw), node)
    if item_id is not None:
        assert got == item_id
    return got


def _get_items(s, node, to=None, max_items=None, ids=()):
    return s.iq('get', "<pubsub xmlns='%s'><items node=%s%s>%s</items></pubsub>"
                % (NS_PUBSUB, quoteattr(node),
                   '' if max_items is None else " max_items='%d'" % max_items,
                   ''.join('<item id=%s/>' % quoteattr(i) for i in ids)), to=to)


def _items(s, node, to=None, max_items=None, ids=()):
    """The node's items as [(id, entry text)], in the order served."""
    r = _get_items(s, node, to, max_items, ids)
    assert r.get('type') == 'result', _xml(r)
    items = r.find('%s/%s' % (q(NS_PUBSUB, 'pubsub'), q(NS_PUBSUB, 'items')))
    assert items is not None and items.get('node') == node, _xml(r)
    return _entries(items, NS_PUBSUB, r)


def _entries(items, ns, whole):
    """[(id, entry text)] of an <items/> (in namespace ns) whose every item
    holds one test entry; whole is what an assertion shows."""
    out = []
    for it in items:
        assert it.tag == q(ns, 'item') and len(it) == 1, _xml(whole)
        assert it[0].tag == q(NS_ENTRY, 'entry'), _xml(whole)
        out.append((it.get('id'), it[0].text))
    return out


def _owner(s, inner, type_='set'):
    return s.iq(type_, "<pubsub xmlns='%s'>%s</pubsub>" % (NS_OWNER, inner))


def _retract(s, node, item_id, notify=None):
    return s.iq('set', "<pubsub xmlns='%s'><retract node=%s%s><item id=%s/></retract></pubsub>"
                % (NS_PUBSUB, quoteattr(node), '' if notify is None else " notify='%s'" % notify,
                   quoteattr(item_id)))


def _ok(r):
    assert r.get('type') == 'result', _xml(r)
    return r


def _err(r, type_, condition, app=None):
    """An error of this type and defined condition, with the pubsub#errors
    application condition app when given (XEP-0060 §7.1.3, §6.5.9...)."""
    assert r.get('type') == 'error', _xml(r)
    err = r.find(q(NS_CLIENT, 'error'))
    assert err is not None and err.get('type') == type_, _xml(r)
    assert stanza_error(r) == condition, _xml(r)
    assert err.find(q(NS_STANZA_ERR, condition)) is not None
    if app is not None:
        assert err.find(q(NS_ERRORS, app)) is not None, _xml(r)


def _config(s, node):
    """The node configuration form as {var: [values]} (XEP-0060 §8.2.1)."""
    r = _owner(s, "<configure node=%s/>" % quoteattr(node), 'get')
    assert r.get('type') == 'result', _xml(r)
    conf = r.find('%s/%s' % (q(NS_OWNER, 'pubsub'), q(NS_OWNER, 'configure')))
    assert conf is not None and conf.get('node') == node, _xml(r)
    x = conf.find(q(NS_XDATA, 'x'))
    assert x is not None and x.get('type') == 'form', _xml(r)
    fields = {f.get('var'): [v.text or '' for v in f.findall(q(NS_XDATA, 'value'))]
              for f in x.findall(q(NS_XDATA, 'field'))}
    assert fields.get('FORM_TYPE') == [FORM_CONFIG], _xml(r)
    return fields


def _bool(values):
    assert len(values) == 1 and values[0] in ('0', '1', 'true', 'false'), values
    return values[0] in ('1', 'true')


def _events(elements):
    """The pubsub event messages among elements."""
    return [e for e in elements if _is(e, 'message') and e.find(q(NS_EVENT, 'event')) is not None]


def _is_event(e):
    return _is(e, 'message') and e.find(q(NS_EVENT, 'event')) is not None


def _event_of(msg, owner, to):
    """The <event/> child of a notification, after checking its addressing
    (XEP-0163 §4.3.1: from the owner's bare JID, to the full JID)."""
    assert msg.get('from') == owner and msg.get('to') == to, _xml(msg)
    ev = msg.find(q(NS_EVENT, 'event'))
    assert ev is not None and len(ev) == 1, _xml(msg)
    return ev


def _notified_items(msg, owner, to, node, headline=True):
    """[(item id, entry text)] of an items notification."""
    if headline:
        assert msg.get('type') == 'headline', _xml(msg)
    items = _event_of(msg, owner, to)[0]
    assert items.tag == q(NS_EVENT, 'items') and items.get('node') == node, _xml(msg)
    return _entries(items, NS_EVENT, msg)


def _close(*peers):
    for p in peers:
        if p is not None:
            p.close()


# -- disco ------------------------------------------------------------------

def _disco(s, to=None):
    r = s.iq('get', "<query xmlns='%s'/>" % NS_DISCO, to=to)
    assert r.get('type') == 'result', _xml(r)
    query = r.find(q(NS_DISCO, 'query'))
    return ({(i.get('category'), i.get('type')) for i in query.findall(q(NS_DISCO, 'identity'))},
            {f.get('var') for f in query.findall(q(NS_DISCO, 'feature'))})


def test_disco_info_names_pep(server):
    """XEP-0163 §8.1 (support-owner): the account's identity pubsub/pep and
    its XEP-0060 features, to the owner (no 'to' and its bare JID) and to a
    contact subscribed to its presence; the server's own info has none."""
    (aj, apw), (bj, bpw) = _users(server, 'alice', 'bob')
    _subscribe(server, (bj, bpw), (aj, apw))
    a = Peer(server, aj, apw, 'pc')
    b = Peer(server, bj, bpw, 'pc')
    try:
        want = {NS_PUBSUB + '#' + f for f in PEP_FEATURES}
        for s, to in ((a, None), (a, aj), (b, aj)):
            ids, feats = _disco(s, to)
            assert ('pubsub', 'pep') in ids, (to, ids)
            assert want <= feats, (to, sorted(want - feats))
        ids, feats = _disco(a, server.domain)
        assert not [i for i in ids if i[0] == 'pubsub'], ids
        assert not [f for f in feats if f.startswith(NS_PUBSUB)], sorted(feats)
    finally:
        _close(a, b)


# -- publish and retrieve ---------------------------------------------------

def test_publish_retrieve_republish(server):
    """Auto-create, the publish result, retrieval (no 'to' and the own bare
    JID), the default max_items of 1, server-made ids, one item by id, and
    item-not-found for a node that does not exist (XEP-0060 §7.1, §6.5)."""
    (aj, apw), = _users(server, 'alice')
    node = _node()
    a = Peer(server, aj, apw, 'pc')
    try:
        _err(_get_items(a, node), 'cancel', 'item-not-found')
        _ok_publish(a, node, 'first', text='one')  # auto-create
        assert _items(a, node) == [('first', 'one')]
        assert _items(a, node, to=aj) == [('first', 'one')]
        # Default max_items 1: a second item replaces the first.
        _ok_publish(a, node, 'second', text='two', to=aj)
        assert _items(a, node) == [('second', 'two')]
        # Republishing the same id replaces it.
        _ok_publish(a, node, 'second', text='two again')
        assert _items(a, node) == [('second', 'two again')]
        # No id: the server makes one and says which.
        made = _ok_publish(a, node, None, text='anonymous')
        assert made != 'second'
        assert _items(a, node) == [(made, 'anonymous')]
        assert _items(a, node, ids=[made]) == [(made, 'anonymous')]
        # Another server-made id for the next one.
        made2 = _ok_publish(a, node, None, text='anonymous 2')
        assert made2 != made
        # Another node of the same account is another node.
        _err(_get_items(a, _node()), 'cancel', 'item-not-found')
    finally:
        a.close()


def test_ids_and_node_names_keep_their_whitespace(server):
    """A node name or item id with a tab or a newline comes back with it, in
    the publish result, a retrieval and a notification (escaped as character
    references: XML 1.0 §3.3.3 would turn them into spaces)."""
    ((aj, apw),) = _users(server, 'alice')
    node, item = _node() + '\tx', 'line\none'
    a = Peer(server, aj, apw, 'pc')
    try:
        _asked(a, [node + '+notify'])
        esc = lambda v: quoteattr(v).replace('\t', '&#9;').replace('\n', '&#10;')
        r = a.iq('set', "<pubsub xmlns='%s'><publish node=%s><item id=%s>%s</item></publish>"
                 "</pubsub>" % (NS_PUBSUB, esc(node), esc(item), _entry('ws')))
        assert _published(r, node) == item
        got = a.iq('get', "<pubsub xmlns='%s'><items node=%s/></pubsub>" % (NS_PUBSUB, esc(node)))
        items = got.find('%s/%s' % (q(NS_PUBSUB, 'pubsub'), q(NS_PUBSUB, 'items')))
        assert items.get('node') == node and _entries(items, NS_PUBSUB, got) == [(item, 'ws')]
        a.sync()
        events = list(_events(a.drain()))
        assert [_notified_items(m, aj, a.full, node) for m in events] == [[(item, 'ws')]]
    finally:
        a.close()


def test_max_items_order_and_item_by_id(server):
    """pubsub#max_items keeps that many of the newest items, served oldest
    first; max_items on retrieval gives the newest k; a republished id
    becomes the newest (XEP-0060 §6.5.7, §7.1.2)."""
    (aj, apw), = _users(server, 'alice')
    node = _node()
    a = Peer(server, aj, apw, 'pc')
    try:
        opts = _options(max_items='3')
        for i in 'abcd':
            _ok_publish(a, node, i, text=i.upper(), options=opts)
        assert _items(a, node) == [('b', 'B'), ('c', 'C'), ('d', 'D')]  # a dropped
        assert _items(a, node, max_items=2) == [('c', 'C'), ('d', 'D')]
        assert _items(a, node, max_items=1) == [('d', 'D')]
        assert _items(a, node, ids=['c']) == [('c', 'C')]
        _ok_publish(a, node, 'b', text='B2')
        assert _items(a, node) == [('c', 'C'), ('d', 'D'), ('b', 'B2')]
        _ok_publish(a, node, 'e', text='E')
        assert _items(a, node) == [('d', 'D'), ('b', 'B2'), ('e', 'E')]
        # 'max' is 256: a node made with it matches max_items=256 afterwards.
        big = _node()
        _ok_publish(a, big, '1', options=_options(max_items='max'))
        _ok_publish(a, big, '2', options=_options(max_items='256'))
        assert [i for i, _ in _items(a, big)] == ['1', '2']
    finally:
        a.close()


def test_publish_errors(server):
    """XEP-0060 §7.1.3: forbidden for another account, nodeid-required,
    item-required, invalid-payload (two items, no payload, two payloads) and
    payload-too-big; nothing is stored by a refused publish."""
    (aj, apw), (bj, bpw) = _users(server, 'alice', 'bob')
    _subscribe(server, (bj, bpw), (aj, apw))
    node = _node()
    a = Peer(server, aj, apw, 'pc')
    b = Peer(server, bj, bpw, 'pc')
    try:
        _ok_publish(a, node, 'kept', text='kept')
        # Another's account: refused even to a subscribed contact.
        _err(_publish(b, node, 'bob', to=aj), 'auth', 'forbidden')
        _err(_publish(b, _node(), 'bob', to=aj), 'auth', 'forbidden')
        pub = "<pubsub xmlns='%s'>%%s</pubsub>" % NS_PUBSUB
        _err(a.iq('set', pub % ("<publish><item id='x'>%s</item></publish>" % _entry('x'))),
             'modify', 'bad-request', 'nodeid-required')
        _err(a.iq('set', pub % ("<publish node=%s/>" % quoteattr(node))),
             'modify', 'bad-request', 'item-required')
        _err(a.iq('set', pub % ("<publish node=%s><item id='1'>%s</item><item id='2'>%s</item>"
                                "</publish>" % (quoteattr(node), _entry('1'), _entry('2')))),
             'modify', 'bad-request', 'invalid-payload')
        _err(_publish(a, node, 'empty', payload=''), 'modify', 'bad-request', 'invalid-payload')
        _err(_publish(a, node, 'two', payload=_entry('1') + _entry('2')),
             'modify', 'bad-request', 'invalid-payload')
        # Over 128 KiB: refused; just under: stored.
        _err(_publish(a, node, 'big', text='x' * (PAYLOAD_LIMIT + 1)),
             'modify', 'not-acceptable', 'payload-too-big')
        assert _items(a, node) == [('kept', 'kept')]
        _ok_publish(a, node, 'large', text='y' * (PAYLOAD_LIMIT - 1024))
        assert _items(a, node) == [('large', 'y' * (PAYLOAD_LIMIT - 1024))]
    finally:
        _close(a, b)


# -- access models ----------------------------------------------------------

def test_access_models(server):
    """XEP-0060 §6.5.9: presence (default) lets the owner and contacts with a
    subscription from/both retrieve, others get not-authorized with
    presence-subscription-required (also one the owner is subscribed to, but
    not the other way); open lets anyone; whitelist only the owner, others
    get not-allowed with closed-node."""
    (aj, apw), (bj, bpw), (cj, cpw), (dj, dpw) = _users(server, 'alice', 'bob', 'carol', 'dave')
    _subscribe(server, (bj, bpw), (aj, apw))  # alice's roster: bob 'from'
    _subscribe(server, (aj, apw), (dj, dpw))  # alice's roster: dave 'to'
    presence, open_, white = _node('presence'), _node('open'), _node('whitelist')
    a = Peer(server, aj, apw, 'pc')
    b = Peer(server, bj, bpw, 'pc')
    c = Peer(server, cj, cpw, 'pc')
    d = Peer(server, dj, dpw, 'pc')
    try:
        _ok_publish(a, presence, 'p', text='P')
        _ok_publish(a, open_, 'o', text='O', options=_options(access_model='open'))
        _ok_publish(a, white, 'w', text='W', options=_options(access_model='whitelist'))
        for n, t in ((presence, 'P'), (open_, 'O'), (white, 'W')):
            assert _items(a, n)[0][1] == t
            assert _items(a, n, to=aj)[0][1] == t

        assert _items(b, presence, to=aj) == [('p', 'P')]
        for s in (c, d):
            _err(_get_items(s, presence, to=aj), 'auth', 'not-authorized',
                 'presence-subscription-required')
            _err(_get_items(s, presence, to=aj, ids=['p']), 'auth', 'not-authorized',
                 'presence-subscription-required')

        for s in (b, c, d):
            assert _items(s, open_, to=aj) == [('o', 'O')]
            _err(_get_items(s, white, to=aj), 'cancel', 'not-allowed', 'closed-node')
    finally:
        _close(a, b, c, d)


def test_disco_items_lists_the_nodes(server):
    """XEP-0060 §5.2: an account's disco#items lists its nodes, all of them
    to the owner, those not whitelisted to a subscriber; a stranger cannot
    discover the account at all (XEP-0030 as for a missing account)."""
    (aj, apw), (bj, bpw), (cj, cpw) = _users(server, 'alice', 'bob', 'carol')
    _subscribe(server, (bj, bpw), (aj, apw))
    shared, white = _node('shared'), _node('white')
    a = Peer(server, aj, apw, 'pc')
    b = Peer(server, bj, bpw, 'pc')
    c = Peer(server, cj, cpw, 'pc')
    query = "<query xmlns='http://jabber.org/protocol/disco#items'/>"

    def nodes(r):
        _ok(r)
        return sorted((i.get('jid'), i.get('node'))
                      for i in r.iter(q('http://jabber.org/protocol/disco#items', 'item')))
    try:
        assert nodes(a.iq('get', query)) == []
        _ok_publish(a, shared, 'i')
        _ok_publish(a, white, 'i', options=_options(access_model='whitelist'))
        assert nodes(a.iq('get', query)) == sorted([(aj, shared), (aj, white)])
        assert nodes(a.iq('get', query, to=aj)) == sorted([(aj, shared), (aj, white)])
        assert nodes(b.iq('get', query, to=aj)) == [(aj, shared)]
        _err(c.iq('get', query, to=aj), 'cancel', 'service-unavailable')
    finally:
        _close(a, b, c)


# -- publish-options --------------------------------------------------------

def test_publish_options_are_preconditions(server):
    """XEP-0060 §7.1.5: a new node takes the options as its configuration;
    an existing node whose configuration differs, an unknown field or
    persist_items false make conflict + precondition-not-met, and nothing is
    published (or created)."""
    (aj, apw), (cj, cpw) = _users(server, 'alice', 'carol')
    node = _node()
    a = Peer(server, aj, apw, 'pc')
    c = Peer(server, cj, cpw, 'pc')
    try:
        _ok_publish(a, node, '1', text='one', options=_options(
            access_model='open', max_items='2', persist_items='true',
            send_last_published_item='on_sub', notify_retract='true',
            deliver_notifications='true', deliver_payloads='true'))
        assert _items(c, node, to=aj) == [('1', 'one')]  # open: carol may read it
        # The same options, spelt differently, match.
        _ok_publish(a, node, '2', text='two', options=_options(
            access_model='open', max_items='2', persist_items='1', notify_retract='1'))
        # No options: no precondition.
        _ok_publish(a, node, '3', text='three')
        assert _items(a, node) == [('2', 'two'), ('3', 'three')]  # max_items 2 kept

        for bad in (_options(access_model='presence'), _options(max_items='3'),
                    _options(access_model='open', send_last_published_item='never'),
                    _options(notify_retract='false'), _options(persist_items='false'),
                    _options(access_model='open', no_such_option='1')):
            _err(_publish(a, node, 'refused', text='refused', options=bad),
                 'cancel', 'conflict', 'precondition-not-met')
        assert _items(a, node) == [('2', 'two'), ('3', 'three')]
        assert _items(c, node, to=aj) == [('2', 'two'), ('3', 'three')]

        # On a new node, a refused option creates nothing.
        for bad in (_options(persist_items='false'), _options(no_such_option='1')):
            fresh = _node()
            _err(_publish(a, fresh, 'x', options=bad), 'cancel', 'conflict',
                 'precondition-not-met')
            _err(_get_items(a, fresh), 'cancel', 'item-not-found')
    finally:
        _close(a, c)


# -- configuration and node management ---------------------------------------

def test_configure_get_and_set(server):
    """XEP-0060 §8.2: the node_config form with the node's values; a
    submitted form changes them (seen through access and publish-options);
    item-not-found for a node that does not exist."""
    (aj, apw), (cj, cpw) = _users(server, 'alice', 'carol')
    node = _node()
    a = Peer(server, aj, apw, 'pc')
    c = Peer(server, cj, cpw, 'pc')
    try:
        _ok_publish(a, node, '1', text='one')
        conf = _config(a, node)
        for var in ('pubsub#access_model', 'pubsub#max_items', 'pubsub#persist_items',
                    'pubsub#send_last_published_item', 'pubsub#notify_retract'):
            assert var in conf, (var, conf)
        assert conf['pubsub#access_model'] == ['presence']
        assert conf['pubsub#max_items'] == ['1']
        assert _bool(conf['pubsub#persist_items'])
        # XEP-0163 §5: send the last published item on subscription and presence.
        assert conf['pubsub#send_last_published_item'] == ['on_sub_and_presence']
        _err(_get_items(c, node, to=aj), 'auth', 'not-authorized',
             'presence-subscription-required')

        _ok(_owner(a, "<configure node=%s>%s</configure>" % (quoteattr(node), _form(
            FORM_CONFIG, {'pubsub#access_model': 'open', 'pubsub#max_items': '5',
                          'pubsub#send_last_published_item': 'never',
                          'pubsub#notify_retract': 'false'}))))
        conf = _config(a, node)
        assert conf['pubsub#access_model'] == ['open']
        assert conf['pubsub#max_items'] == ['5']
        assert conf['pubsub#send_last_published_item'] == ['never']
        assert not _bool(conf['pubsub#notify_retract'])
        assert _items(c, node, to=aj) == [('1', 'one')]
        _ok_publish(a, node, '2', text='two', options=_options(
            access_model='open', max_items='5', send_last_published_item='never',
            notify_retract='false'))
        _err(_publish(a, node, '3', options=_options(access_model='presence')),
             'cancel', 'conflict', 'precondition-not-met')
        assert _items(a, node) == [('1', 'one'), ('2', 'two')]  # max_items 5 now

        _err(_owner(a, "<configure node=%s/>" % quoteattr(_node()), 'get'),
             'cancel', 'item-not-found')
        _err(_owner(a, "<configure node=%s>%s</configure>" % (quoteattr(_node()), _form(
            FORM_CONFIG, {'pubsub#access_model': 'open'}))), 'cancel', 'item-not-found')
    finally:
        _close(a, c)


def test_create_nodes(server):
    """XEP-0060 §8.1: create, create-and-configure, conflict for a node that
    exists; a created node has no items yet."""
    (aj, apw), (bj, bpw) = _users(server, 'alice', 'bob')
    _subscribe(server, (bj, bpw), (aj, apw))
    plain, white = _node(), _node()
    a = Peer(server, aj, apw, 'pc')
    b = Peer(server, bj, bpw, 'pc')
    try:
        create = "<pubsub xmlns='%s'><create node=%%s/>%%s</pubsub>" % NS_PUBSUB
        _ok(a.iq('set', create % (quoteattr(plain), '')))
        assert _items(a, plain) == []
        assert _items(b, plain, to=aj) == []  # presence model: bob may read
        _err(a.iq('set', create % (quoteattr(plain), '')), 'cancel', 'conflict')

        _ok(a.iq('set', create % (quoteattr(white), '<configure>%s</configure>' % _form(
            FORM_CONFIG, {'pubsub#access_model': 'whitelist', 'pubsub#max_items': '2'}))))
        conf = _config(a, white)
        assert conf['pubsub#access_model'] == ['whitelist']
        assert conf['pubsub#max_items'] == ['2']
        _err(_get_items(b, white, to=aj), 'cancel', 'not-allowed', 'closed-node')
        _err(a.iq('set', create % (quoteattr(white), '')), 'cancel', 'conflict')
        # Another's account: not created there.
        _err(b.iq('set', create % (quoteattr(_node()), ''), to=aj), 'auth', 'forbidden')
    finally:
        _close(a, b)


def test_retract_purge_delete(server):
    """XEP-0060 §7.2, §8.5, §8.4: retract one item, purge all, delete the
    node, and item-not-found for what does not exist.  A resource of the
    owner that wants the node's notifications gets the retraction with
    notify='true', none without it (notify_retract false), and the delete."""
    (aj, apw), = _users(server, 'alice')
    node = _node()
    a = Peer(server, aj, apw, 'pc')
    r = Peer(server, aj, apw, 'watch')
    try:
        _asked(r, [node + '+notify'])
        opts = _options(max_items='3', notify_retract='false')
        for i in ('1', '2', '3'):
            _ok_publish(a, node, i, text=i, options=opts)
        got = _events(r.until(a.mark(r)))
        assert [_notified_items(m, aj, r.full, node) for m in got] == [
            [('1', '1')], [('2', '2')], [('3', '3')]]

        # Retract with notify='true': gone, and the receiver is told.
        _ok(_retract(a, node, '1', notify='true'))
        assert _items(a, node) == [('2', '2'), ('3', '3')]
        msg = r.take(_is_event)
        assert msg.get('type') == 'headline', _xml(msg)
        items = _event_of(msg, aj, r.full)[0]
        assert items.tag == q(NS_EVENT, 'items') and items.get('node') == node, _xml(msg)
        assert [(x.tag, x.get('id')) for x in items] == [(q(NS_EVENT, 'retract'), '1')], _xml(msg)
        _err(_retract(a, node, '1', notify='true'), 'cancel', 'item-not-found')
        _err(_retract(a, _node(), '1'), 'cancel', 'item-not-found')

        # Without notify (and notify_retract false): no notification.
        _ok(_retract(a, node, '2'))
        assert _items(a, node) == [('3', '3')]
        assert [_xml(m) for m in _events(r.until(a.mark(r)))] == []

        # Purge: the node stays, empty.
        _ok(_owner(a, "<purge node=%s/>" % quoteattr(node)))
        assert _items(a, node) == []
        _err(_owner(a, "<purge node=%s/>" % quoteattr(_node())), 'cancel', 'item-not-found')
        r.until(a.mark(r))

        # Delete: gone, and the receiver is told.
        _ok_publish(a, node, '4', text='4')
        r.take(_is_event)
        _ok(_owner(a, "<delete node=%s/>" % quoteattr(node)))
        _err(_get_items(a, node), 'cancel', 'item-not-found')
        msg = r.take(_is_event)
        ev = _event_of(msg, aj, r.full)
        assert ev[0].tag == q(NS_EVENT, 'delete') and ev[0].get('node') == node, _xml(msg)
        _err(_owner(a, "<delete node=%s/>" % quoteattr(node)), 'cancel', 'item-not-found')
        # Published again: a new node with the default configuration.
        _ok_publish(a, node, '5', text='5')
        _ok_publish(a, node, '6', text='6')
        assert _items(a, node) == [('6', '6')]
    finally:
        _close(a, r)


def test_retract_notifies_contacts(server):
    """A retraction with notify='true' reaches a contact that gets the node's
    notifications, as the publish did."""
    (aj, apw), (bj, bpw) = _users(server, 'alice', 'bob')
    _subscribe(server, (bj, bpw), (aj, apw))
    node = _node()
    a = Peer(server, aj, apw, 'pc')
    b = Peer(server, bj, bpw, 'pc')
    try:
        a.online()
        _asked(b, [node + '+notify'])
        _ok_publish(a, node, 'only', text='t')
        assert _notified_items(b.take(_is_event), aj, b.full, node) == [('only', 't')]
        _ok(_retract(a, node, 'only', notify='true'))
        msg = b.take(_is_event)
        items = _event_of(msg, aj, b.full)[0]
        assert [(x.tag, x.get('id')) for x in items] == [(q(NS_EVENT, 'retract'), 'only')], \
            _xml(msg)
    finally:
        _close(a, b)


# -- notifications and entity capabilities ----------------------------------

def test_notifications_follow_caps_subscription_and_blocking(server):
    """XEP-0163 §4: one headline per resource that names node+notify in its
    caps, of the owner and of contacts with a subscription from/both; none
    to a resource without caps, one whose features lack node+notify, a
    stranger, a contact the owner is subscribed to (only 'to'), or a contact
    the owner blocks (§4.3.3).  The server asked for the caps with a
    disco#info query from its domain to node#ver."""
    (aj, apw), (bj, bpw), (cj, cpw), (dj, dpw), (ej, epw), (fj, fpw) = _users(
        server, 'alice', 'bob', 'carol', 'dave', 'eve', 'frank')
    for contact in ((bj, bpw), (cj, cpw), (ej, epw)):
        _subscribe(server, contact, (aj, apw))  # 'from' in alice's roster
    _subscribe(server, (aj, apw), (fj, fpw))  # 'to' only
    node = _node()
    want = node + '+notify'
    peers = []
    try:
        for j, pw, res in ((aj, apw, 'one'), (aj, apw, 'two'), (bj, bpw, 'pc'), (cj, cpw, 'pc'),
                           (dj, dpw, 'pc'), (ej, epw, 'pc'), (fj, fpw, 'pc')):
            peers.append(Peer(server, j, pw, res))
        a1, a2, b, c, d, e, f = peers
        _ok(a1.iq('set', "<block xmlns='%s'><item jid='%s'/></block>" % (NS_BLOCK, ej)))
        # Each feature list is distinct: every 'ver' is new to the server.
        _asked(a1, [want, 'urn:starling:test:a1'])
        a2.online()  # available, without caps
        _asked(b, [want, 'urn:starling:test:b'])
        _asked(c, [_node() + '+notify', 'urn:starling:test:c'])
        d.online([want, 'urn:starling:test:d'])
        e.online([want, 'urn:starling:test:e'])
        f.online([want, 'urn:starling:test:f'])
        for p in peers:
            p.drain()

        _ok_publish(a1, node, 'i1', text='hello')
        for p in (a1, b):
            msg = p.take(_is_event)
            assert _notified_items(msg, aj, p.full, node) == [('i1', 'hello')]
        # Exactly one each; nothing to the others.
        a1.sync()
        assert [_xml(m) for m in _events(a1.drain())] == []
        for p in (b, a2, c, d, f):
            assert [_xml(m) for m in _events(p.until(a1.mark(p)))] == [], p
        assert [_xml(m) for m in _events(e.until(d.mark(e)))] == [], e
    finally:
        _close(*peers)


def test_caps_are_cached_by_ver(server):
    """XEP-0115 §6.3: a second resource (of another account) with the same
    node and ver is not asked again, and still gets the notifications."""
    (aj, apw), (bj, bpw) = _users(server, 'alice', 'bob')
    _subscribe(server, (bj, bpw), (aj, apw))
    node = _node()
    a = Peer(server, aj, apw, 'pc')
    b = Peer(server, bj, bpw, 'pc')
    before = _core_metrics(server)
    try:
        features = [node + '+notify', 'urn:starling:test:shared']
        _asked(a, features)
        assert b.online(features) is None, 'asked again for a ver already verified'
        assert a.ver == b.ver
        _ok_publish(a, node, 'i', text='cached')
        for p in (a, b):
            assert _notified_items(p.take(_is_event), aj, p.full, node) == [('i', 'cached')]
        # The operator sees one query for the two sessions, and the item.
        after = _core_metrics(server)
        for name, moved in (('starling_core_caps_queries_total', 1),
                            ('starling_core_pep_published_total', 1),
                            ('starling_core_caps_unverified_total', 0)):
            assert after[name] - before[name] == moved, (name, before[name], after[name])
        assert after['starling_core_caps_sets'] >= 1
    finally:
        _close(a, b)


def _core_metrics(server):
    """The core's /metrics as {name: value} for the unlabelled samples."""
    from test_metrics import core, value
    fams = core(server)
    return {name: value(fams, name) for name in (
        'starling_core_caps_queries_total', 'starling_core_pep_published_total',
        'starling_core_caps_unverified_total', 'starling_core_caps_sets')}


def test_last_published_item_on_initial_presence(server):
    """XEP-0163 §4.3.4: a resource that becomes available wanting node+notify
    gets the newest item of that node of its own account and of each contact
    it is subscribed to whose node is presence or open and does not say
    send_last_published_item never, and that neither blocks the other
    (XEP-0191); a later presence does not send it again."""
    users = _users(server, 'bob', 'alice', 'carol', 'dave', 'eve', 'frank', 'gina', 'hank')
    (bj, bpw), (aj, apw), (cj, cpw), (dj, dpw), (ej, epw), (fj, fpw), (gj, gpw), (hj, hpw) = users
    for contact in users[1:5] + users[6:]:
        _subscribe(server, (bj, bpw), contact)  # bob subscribed to all but frank
    node = _node()
    opts = {'alice': _options(max_items='3'),
            'carol': _options(access_model='open'),
            'dave': _options(send_last_published_item='never'),
            'eve': _options(access_model='whitelist'),
            'frank': _options(access_model='open'),  # not a contact of bob
            'gina': _options(access_model='open'),  # bob blocks her
            'hank': _options(access_model='open')}  # he blocks bob
    names = ('alice', 'carol', 'dave', 'eve', 'frank', 'gina', 'hank')
    for (j, pw), name in zip(users[1:], names):
        p = Peer(server, j, pw, 'pub')
        try:
            if name == 'hank':
                _ok(p.iq('set', "<block xmlns='%s'><item jid='%s'/></block>" % (NS_BLOCK, bj)))
            for i in ('1', '2', '3') if name == 'alice' else ('1',):
                _ok_publish(p, node, '%s-%s' % (name, i), text=name + i, options=opts[name])
        finally:
            p.close()
    own = Peer(server, bj, bpw, 'pub')
    try:
        _ok_publish(own, node, 'bob-1', text='bob1')
        _ok(own.iq('set', "<block xmlns='%s'><item jid='%s'/></block>" % (NS_BLOCK, gj)))
    finally:
        own.close()

    b = Peer(server, bj, bpw, 'pc')
    try:
        _asked(b, [node + '+notify'])
        got = {}
        for m in _events(b.drain()):
            got.setdefault(m.get('from'), []).append(
                _notified_items(m, m.get('from'), b.full, node, headline=False))
        assert got == {aj: [[('alice-3', 'alice3')]], cj: [[('carol-1', 'carol1')]],
                       bj: [[('bob-1', 'bob1')]]}, got
        # Not initial presence: nothing again.
        b.send('<presence><status>still here</status></presence>')
        b.sync()
        assert [_xml(m) for m in _events(b.drain())] == []
    finally:
        b.close()


def test_subscriptions_are_not_implemented(server):
    """PEP needs no explicit subscriptions (interest comes from caps):
    XEP-0060's subscribe, subscriptions and affiliations are answered
    feature-not-implemented with the <unsupported/> feature they name."""
    ((aj, apw),) = _users(server, 'alice')
    a = Peer(server, aj, apw, 'pc')
    try:
        for op, feature in (("<subscribe node='n' jid='%s'/>" % aj, 'subscribe'),
                            ('<subscriptions/>', 'retrieve-subscriptions'),
                            ('<affiliations/>', 'retrieve-affiliations')):
            r = a.iq('set' if 'subscribe ' in op else 'get',
                     "<pubsub xmlns='%s'>%s</pubsub>" % (NS_PUBSUB, op))
            _err(r, 'cancel', 'feature-not-implemented')
            u = r.find(q(NS_CLIENT, 'error')).find(q(NS_ERRORS, 'unsupported'))
            assert u is not None and u.get('feature') == feature, _xml(r)
    finally:
        a.close()


def test_last_items_once_per_available_period(server):
    """XEP-0163 §4.3.2: presence after the initial one MUST NOT bring the
    last items again, even with caps that name other features; after an
    unavailable presence the next available one is initial again."""
    (aj, apw), (bj, bpw) = _users(server, 'alice', 'bob')
    _subscribe(server, (bj, bpw), (aj, apw))
    node = _node()
    a = Peer(server, aj, apw, 'pc')
    try:
        _ok_publish(a, node, 'i', text='once')
    finally:
        a.close()
    b = Peer(server, bj, bpw, 'pc')
    try:
        _asked(b, [node + '+notify'])
        assert len(list(_events(b.drain()))) == 1
        _asked(b, [node + '+notify', 'urn:starling:test:other'])  # a new ver
        assert [_xml(m) for m in _events(b.drain())] == []
        b.send("<presence type='unavailable'/>")
        b.sync()
        assert b.online([node + '+notify']) is None  # known ver: not asked
        got = [_notified_items(m, aj, b.full, node, headline=False) for m in _events(b.drain())]
        assert got == [[('i', 'once')]], got
    finally:
        b.close()


def test_new_subscriber_gets_the_last_items(server):
    """XEP-0163 §4.3.2: when alice approves bob's subscription, bob's
    resources that ask for her nodes get their last items at once (not the
    whitelisted ones, not one configured never to send)."""
    (aj, apw), (bj, bpw) = _users(server, 'alice', 'bob')
    node, white, never = _node('shared'), _node('white'), _node('never')
    a = Peer(server, aj, apw, 'pc')
    b = Peer(server, bj, bpw, 'pc')
    try:
        _ok_publish(a, node, 'i', text='hello')
        _ok_publish(a, white, 'w', options=_options(access_model='whitelist'))
        _ok_publish(a, never, 'n', options=_options(send_last_published_item='never'))
        a.online()
        _asked(b, [n + '+notify' for n in (node, white, never)])
        assert [_xml(m) for m in _events(b.drain())] == []  # not a contact yet
        b.send("<presence type='subscribe' to='%s'/>" % aj)
        a.take(lambda e: _is(e, 'presence') and e.get('type') == 'subscribe')
        a.send("<presence type='subscribed' to='%s'/>" % bj)
        a.sync()
        b.sync()
        got = [_notified_items(m, aj, b.full, node, headline=False)
               for m in _events(b.drain())]
        assert got == [[('i', 'hello')]], got
    finally:
        _close(a, b)


def test_big_items_are_bounded_per_answer_and_per_login(server):
    """Whatever users publish, one items answer carries at most 256 KiB of
    payload (the newest that fit, XEP-0060 §6.5.7 lets a service return
    fewer), asking for one item many times included, and the last items a
    resource gets when it comes online at most 1 MiB: no client can make
    the core queue megabytes for one request or one login."""
    (aj, apw), (bj, bpw) = _users(server, 'alice', 'bob')
    _subscribe(server, (bj, bpw), (aj, apw))
    node, nodes = _node('big'), [_node('n%d' % i) for i in range(10)]
    a = Peer(server, aj, apw, 'pc')
    try:
        for i in ('1', '2', '3'):  # ~100 KB each
            _ok_publish(a, node, i, text='x' * 100000 + i, options=_options(max_items='max'))
        assert [i for i, _ in _items(a, node)] == ['2', '3']
        assert [i for i, _ in _items(a, node, max_items=1)] == ['3']
        assert [i for i, _ in _items(a, node, ids=['1'] * 5)] == ['1'] * 3
        for n in nodes:  # ~120 KB each: eight fit in 1 MiB
            _ok_publish(a, n, 'i', text='y' * 120000)
    finally:
        a.close()
    b = Peer(server, bj, bpw, 'pc')
    try:
        _asked(b, [n + '+notify' for n in nodes])
        got = [m for m in _events(b.drain())]
        assert len(got) == 8, len(got)
    finally:
        b.close()


def test_account_storage_is_bounded(server):
    """All of an account's items together keep at most 8 MiB of payload: a
    publish beyond it gets not-acceptable and stores nothing, in any node;
    republishing an item counts only its new size."""
    ((aj, apw),) = _users(server, 'alice')
    node, opts, big = _node('fill'), _options(max_items='max'), 'z' * 120000
    a = Peer(server, aj, apw, 'pc')
    try:
        n = 0
        while True:
            r = _publish(a, node, str(n), text=big, options=opts)
            if r.get('type') == 'error':
                break
            n += 1
            assert n < 100, 'no limit'
        _err(r, 'modify', 'not-acceptable')
        assert n == (8 << 20) // len(_entry(big).encode()), n  # as many as fit
        assert _items(a, node, ids=[str(n)]) == []
        _err(_publish(a, _node('other'), 'x', text=big), 'modify', 'not-acceptable')
        _ok_publish(a, node, '0', text=big, options=opts)
    finally:
        a.close()


def test_nodes_survive_restart(server):
    """Nodes, their configuration and their items are stored, not held in
    memory: a restart of the server keeps them."""
    (aj, apw), (cj, cpw) = _users(server, 'alice', 'carol')
    node = _node()
    a = Peer(server, aj, apw, 'pc')
    try:
        opts = _options(access_model='open', max_items='2')
        for i in ('1', '2', '3'):
            _ok_publish(a, node, i, text='v' + i, options=opts)
    finally:
        a.close()
    server.restart()
    a = Peer(server, aj, apw, 'pc')
    c = Peer(server, cj, cpw, 'pc')
    try:
        assert _items(a, node) == [('2', 'v2'), ('3', 'v3')]
        assert _items(c, node, to=aj) == [('2', 'v2'), ('3', 'v3')]  # still open
        conf = _config(a, node)
        assert conf['pubsub#access_model'] == ['open'] and conf['pubsub#max_items'] == ['2']
        _ok_publish(a, node, '4', text='v4', options=opts)
        assert _items(a, node) == [('3', 'v3'), ('4', 'v4')]
    finally:
        _close(a, c)


# -- slixmpp ----------------------------------------------------------------

def test_user_tune_with_slixmpp(server):
    """slixmpp end to end: alice publishes a tune with xep_0118; bob, a
    contact whose caps (xep_0115) name the tune+notify that xep_0118 adds,
    gets it as user_tune_publish: first as the last published item on his
    initial presence (so the server has his caps), then live."""
    (aj, apw), (bj, bpw) = _users(server, 'alice', 'bob')
    _subscribe(server, (bj, bpw), (aj, apw))

    async def scenario():
        a = await connect(server, aj, apw, resource='desk')
        a.register_plugin('xep_0118')
        await a.plugin['xep_0118'].publish_tune(artist='Gerald Finzi', title='Introduction',
                                                track='1', timeout=30)

        b = await connect(server, bj, bpw, resource='phone')
        tunes = asyncio.Queue()
        b.add_event_handler('user_tune_publish', tunes.put_nowait)
        b.register_plugin('xep_0115')
        b.register_plugin('xep_0118')
        await b.plugin['xep_0115'].update_caps(broadcast=False)
        info = await b.plugin['xep_0030'].get_info(local=True)
        if isinstance(info, Iq):
            info = info['disco_info']
        assert NS_TUNE + '+notify' in info['features'], info
        b.send_presence()  # with <c/> (xep_0115's outgoing filter)

        msg = await asyncio.wait_for(tunes.get(), WAIT)
        assert str(msg['from']) == aj
        tune = msg['pubsub_event']['items']['item']['tune']
        assert (tune['artist'], tune['title']) == ('Gerald Finzi', 'Introduction')

        await a.plugin['xep_0118'].publish_tune(artist='Finzi', title='Nocturne', timeout=30)
        msg = await asyncio.wait_for(tunes.get(), WAIT)
        assert str(msg['from']) == aj and str(msg['to']) == str(b.boundjid)
        assert msg['type'] == 'headline'
        assert msg['pubsub_event']['items']['node'] == NS_TUNE
        tune = msg['pubsub_event']['items']['item']['tune']
        assert (tune['artist'], tune['title']) == ('Finzi', 'Nocturne')
    run(scenario())


def test_avatar_with_slixmpp(server):
    """XEP-0084 with slixmpp's own plugin: alice publishes an avatar's data
    and its metadata; bob, a contact whose caps name the metadata's +notify,
    gets the metadata (as the last item when he comes online, then live when
    it changes) and fetches the data by the id it names, byte for byte."""
    (aj, apw), (bj, bpw) = _users(server, 'alice', 'bob')
    _subscribe(server, (bj, bpw), (aj, apw))
    png = bytes(range(256)) * 80  # 20 KiB standing in for an image

    async def publish(c, data):
        av = c.plugin['xep_0084']
        await av.publish_avatar(data, timeout=30)
        ident = av.generate_id(data)
        await av.publish_avatar_metadata(
            {'id': ident, 'type': 'image/png', 'bytes': len(data)}, timeout=30)
        return ident

    async def scenario():
        a = await connect(server, aj, apw, resource='desk')
        a.register_plugin('xep_0084')
        first = await publish(a, png)

        b = await connect(server, bj, bpw, resource='phone')
        metas = asyncio.Queue()
        b.add_event_handler('avatar_metadata_publish', metas.put_nowait)
        b.register_plugin('xep_0115')
        b.register_plugin('xep_0084')
        b.plugin['xep_0084'].session_bind(b.boundjid)  # registered after bind
        await b.plugin['xep_0115'].update_caps(broadcast=False)
        b.send_presence()

        async def next_id():
            msg = await asyncio.wait_for(metas.get(), WAIT)
            assert str(msg['from']) == aj
            return msg['pubsub_event']['items']['item']['id']

        assert await next_id() == first
        got = await b.plugin['xep_0084'].retrieve_avatar(aj, first, timeout=30)
        assert got['pubsub']['items']['item']['avatar_data']['value'] == png
        second = await publish(a, png[::-1])
        assert second != first and await next_id() == second
        got = await b.plugin['xep_0084'].retrieve_avatar(aj, second, timeout=30)
        assert got['pubsub']['items']['item']['avatar_data']['value'] == png[::-1]
    run(scenario())
