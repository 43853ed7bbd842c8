"""Roster set validation (RFC 6121 §2.1.2, §2.1.5, §2.3.3, §2.4, §2.5.3) on raw
streams, so the exact error condition and type are seen.

Every session here fetched the roster (so it is "interested" and gets the
pushes, §2.1.6) and sent no presence (so nothing else is routed to it).  A
request is followed by a ping to the server: the core answers in order, so
whatever the request caused for this session (push, result, error) arrives
before the ping's result, and "no push" is proved by ordering, not a timer."""
import xml.etree.ElementTree as ET

import pytest

from xmpp_raw import NS_CLIENT, NS_ROSTER, new_id, q, stanza_error

PING = "<ping xmlns='urn:xmpp:ping'/>"
NAME_MAX = 1023  # core/roster.c ROSTER_NAME_MAX: longer names and groups are refused
GROUPS_MAX = 64  # core/roster.c ROSTER_GROUPS_MAX
ROSTER_MAX = 2000  # core/core.h CORE_ROSTER_MAX


# -- helpers -----------------------------------------------------------------

def _exchange(s, iq_xml):
    """Send iq_xml (with one %s for the id), then a ping; return (id, every
    element that arrived before the ping's result, in order)."""
    rid = new_id('rr')
    s.send(iq_xml % rid)
    return rid, _sync(s)


def _sync(s):
    """Every element that reached s before the answer to a ping sent now."""
    pid = new_id('ping')
    s.send("<iq type='get' id='%s'>%s</iq>" % (pid, PING))
    got = []
    while True:
        el = s.next_element()
        if el.get('id') == pid and el.tag == q(NS_CLIENT, 'iq'):
            assert el.get('type') == 'result', ET.tostring(el)
            return got
        got.append(el)


def _roster_set(s, item_xml, to=None):
    to_attr = " to='%s'" % to if to else ''
    return _exchange(s, "<iq type='set' id='%%s'%s><query xmlns='%s'>%s</query></iq>"
                     % (to_attr, NS_ROSTER, item_xml))


def _pushes(got):
    return [el for el in got if el.tag == q(NS_CLIENT, 'iq') and el.get('type') == 'set']


def _pushed_item(push):
    items = push.findall('%s/%s' % (q(NS_ROSTER, 'query'), q(NS_ROSTER, 'item')))
    assert len(items) == 1, 'a push carries one item (RFC 6121 §2.1.6): %s' % ET.tostring(push)
    return items[0]


def expect_error(got, rid, condition, err_type):
    """The request was refused with <condition/> of err_type, and nothing
    else (no push) reached the session."""
    assert len(got) == 1, 'expected only the error, got %s' % [ET.tostring(e) for e in got]
    el = got[0]
    assert el.tag == q(NS_CLIENT, 'iq') and el.get('id') == rid, ET.tostring(el)
    assert el.get('type') == 'error', ET.tostring(el)
    assert stanza_error(el) == condition, ET.tostring(el)
    assert el.find(q(NS_CLIENT, 'error')).get('type') == err_type, ET.tostring(el)


def expect_success(got, rid):
    """A roster push of the item, then the result (RFC 6121 §2.3.2); returns
    the pushed <item/>."""
    assert [el.get('type') for el in got] == ['set', 'result'], \
        [ET.tostring(e) for e in got]
    assert got[1].get('id') == rid
    return _pushed_item(got[0])


def _roster(s):
    """The roster as the server has it: {jid: <item/>}."""
    res = s.iq('get', "<query xmlns='%s'/>" % NS_ROSTER)
    assert res.get('type') == 'result', ET.tostring(res)
    return {i.get('jid'): i for i in res.find(q(NS_ROSTER, 'query'))}


@pytest.fixture
def alice(server):
    """A raw session of a fresh account, interested in roster pushes."""
    jid, pw = server.new_user('alice')
    s = server.raw_login(jid, pw, resource='r')
    s.bare = jid
    assert _roster(s) == {}
    yield s
    s.close()


def _contact(server, name='contact'):
    return '%s-%s@%s' % (name, new_id(''), server.domain)


# -- §2.1.5, §2.3.3: exactly one item ---------------------------------------------

@pytest.mark.parametrize('items', [2, 0])
def test_roster_set_item_count_is_bad_request(server, alice, items):
    """RFC 6121 §2.1.5 rule 1 and §2.3.3: a roster set contains exactly one
    <item/>; more (or none) is <bad-request/> and changes nothing."""
    a, b = _contact(server), _contact(server)
    rid, got = _roster_set(alice, ''.join("<item jid='%s'/>" % j for j in (a, b)[:items]))
    expect_error(got, rid, 'bad-request', 'modify')
    assert _roster(alice) == {}


def test_roster_set_without_jid_is_bad_request(server, alice):
    """RFC 6121 §2.1.2.3: 'jid' is REQUIRED on every item a client sets."""
    rid, got = _roster_set(alice, "<item name='nobody'/>")
    expect_error(got, rid, 'bad-request', 'modify')
    assert _roster(alice) == {}


@pytest.mark.parametrize('jid', ['a@b@c', '@localhost', 'a@', 'a@/r', 'localhost/', '',
                                 'a b@localhost', 'a:b@localhost', 'a&lt;b@localhost',
                                 'exa mple.com', 'example..com'])
def test_roster_set_invalid_jid_is_jid_malformed(server, alice, jid):
    """An item 'jid' that fails JID preparation (RFC 7622): RFC 6121 §2.3.3
    names no condition for it, RFC 6120 §8.3.3.8 <jid-malformed/> is the one
    for an address that violates the address rules."""
    rid, got = _roster_set(alice, "<item jid='%s'/>" % jid)
    expect_error(got, rid, 'jid-malformed', 'modify')
    rid, got = _roster_set(alice, "<item jid='%s' subscription='remove'/>" % jid)
    expect_error(got, rid, 'jid-malformed', 'modify')
    assert _roster(alice) == {}


def test_roster_set_jid_is_stored_prepared(server, alice):
    """RFC 7622 §3: the item's JID is kept in its prepared form, so the same
    contact written differently is one item."""
    local = 'MixedCase-%s' % new_id('')
    rid, got = _roster_set(alice, "<item jid='%s@LOCALHOST'/>" % local)
    assert expect_success(got, rid).get('jid') == '%s@localhost' % local.lower()
    rid, got = _roster_set(alice, "<item jid='%s@localhost' name='x'/>" % local.lower())
    expect_success(got, rid)
    assert list(_roster(alice)) == ['%s@localhost' % local.lower()]


# -- §2.3.3: name and groups ---------------------------------------------------------

def test_roster_set_name_too_long_is_not_acceptable(server, alice):
    """RFC 6121 §2.3.3: a 'name' longer than the server's limit is
    <not-acceptable/>; one at the limit is accepted."""
    c = _contact(server)
    rid, got = _roster_set(alice, "<item jid='%s' name='%s'/>" % (c, 'n' * (NAME_MAX + 1)))
    expect_error(got, rid, 'not-acceptable', 'modify')
    assert _roster(alice) == {}
    rid, got = _roster_set(alice, "<item jid='%s' name='%s'/>" % (c, 'n' * NAME_MAX))
    assert expect_success(got, rid).get('name') == 'n' * NAME_MAX


def test_roster_set_empty_name_is_no_name(server, alice):
    """RFC 6121 §2.4.1: an empty 'name' is the same as none (it removes the
    handle); it is not an error."""
    c = _contact(server)
    rid, got = _roster_set(alice, "<item jid='%s' name='Bob'/>" % c)
    assert expect_success(got, rid).get('name') == 'Bob'
    rid, got = _roster_set(alice, "<item jid='%s' name=''/>" % c)
    assert expect_success(got, rid).get('name') is None
    assert _roster(alice)[c].get('name') is None


@pytest.mark.parametrize('groups, condition', [
    (['A', 'A'], 'bad-request'),               # duplicate: §2.3.3 bad-request
    ([''], 'not-acceptable'),                  # zero length: §2.3.3 not-acceptable
    (['A', ''], 'not-acceptable'),
    (['g' * (NAME_MAX + 1)], 'not-acceptable'),  # over the limit: §2.3.3 not-acceptable
    (['g%d' % i for i in range(GROUPS_MAX + 1)], 'not-acceptable'),
], ids=['duplicate', 'empty', 'second-empty', 'too-long', 'too-many'])
def test_roster_set_bad_groups(server, alice, groups, condition):
    """RFC 6121 §2.3.3: duplicate groups are <bad-request/>; an empty group
    or one longer than the server's limit is <not-acceptable/> (so is a
    count of groups over the server's limit).  The item stays as it was."""
    c = _contact(server)
    rid, got = _roster_set(alice, "<item jid='%s' name='Keep'><group>Old</group></item>" % c)
    expect_success(got, rid)
    rid, got = _roster_set(alice, "<item jid='%s' name='New'>%s</item>"
                           % (c, ''.join('<group>%s</group>' % g for g in groups)))
    expect_error(got, rid, condition, 'modify')
    item = _roster(alice)[c]
    assert item.get('name') == 'Keep'
    assert [g.text for g in item.findall(q(NS_ROSTER, 'group'))] == ['Old']


def test_roster_set_groups_at_the_limits_are_accepted(server, alice):
    """Control for the test above: GROUPS_MAX groups, one NAME_MAX long,
    whitespace-only and non-ASCII ones, are all kept as given."""
    c = _contact(server)
    groups = ['g' * NAME_MAX, ' ', 'Caf\u00e9'] + ['g%d' % i for i in range(GROUPS_MAX - 3)]
    rid, got = _roster_set(alice, "<item jid='%s'>%s</item>"
                           % (c, ''.join('<group>%s</group>' % g for g in groups)))
    item = expect_success(got, rid)
    assert [g.text for g in item.findall(q(NS_ROSTER, 'group'))] == groups


# -- §2.1.2: what a client must not set -------------------------------------------------

@pytest.mark.parametrize('attrs', [
    "subscription='both'", "subscription='to'", "subscription='from'", "subscription='none'",
    "subscription='bogus'", "ask='subscribe'", "approved='true'",
    "subscription='both' ask='subscribe' approved='true'"])
def test_roster_set_subscription_ask_approved_are_ignored(server, alice, attrs):
    """RFC 6121 §2.1.2.5: in a roster set the server MUST ignore every
    'subscription' value but "remove"; §2.1.2.2 and §2.1.2.1: 'ask' and
    'approved' are not the client's to set (subscription state changes only
    through presence, §3), so they are ignored too."""
    c = _contact(server)
    rid, got = _roster_set(alice, "<item jid='%s' name='C' %s/>" % (c, attrs))
    item = expect_success(got, rid)
    assert item.get('subscription') == 'none', ET.tostring(item)
    assert item.get('ask') is None and item.get('approved') is None, ET.tostring(item)
    assert item.get('name') == 'C'
    stored = _roster(alice)[c]
    assert stored.get('subscription') == 'none' and stored.get('ask') is None
    assert stored.get('approved') is None


def test_roster_set_keeps_server_subscription_state(server, alice):
    """§2.4.1 with §2.1.2.5: updating an item the user has asked to subscribe
    to changes its name and groups, not the 'ask' the server keeps."""
    bj, _ = server.new_user('bob')
    rid, got = _roster_set(alice, "<item jid='%s'/>" % bj)
    expect_success(got, rid)
    alice.send("<presence type='subscribe' to='%s'/>" % bj)
    rid, got = _roster_set(alice, "<item jid='%s' name='Bob' subscription='none'/>" % bj)
    item = _pushed_item(_pushes(got)[-1])
    assert item.get('name') == 'Bob' and item.get('ask') == 'subscribe', ET.tostring(item)
    assert _roster(alice)[bj].get('ask') == 'subscribe'


# -- the user's own JID --------------------------------------------------------

def test_roster_set_own_bare_jid_is_accepted(server, alice):
    """RFC 6121 §2.3.3 defines no error for an item naming the user's own
    bare JID (its interoperability note only reports that some servers
    answer <not-allowed/>): Starling accepts it like any contact, and it
    can be removed again."""
    rid, got = _roster_set(alice, "<item jid='%s' name='me'/>" % alice.bare)
    item = expect_success(got, rid)
    assert item.get('jid') == alice.bare and item.get('subscription') == 'none'
    assert _roster(alice)[alice.bare].get('name') == 'me'
    rid, got = _roster_set(alice, "<item jid='%s' subscription='remove'/>" % alice.bare)
    assert expect_success(got, rid).get('subscription') == 'remove'
    assert _roster(alice) == {}


# -- §2.5.3: removing -------------------------------------------------------------

def test_remove_missing_item_is_item_not_found(server, alice):
    """RFC 6121 §2.5.3: removing an item that is not in the roster is
    <item-not-found/>; removing one that is works once, then is not found."""
    c = _contact(server)
    rid, got = _roster_set(alice, "<item jid='%s' subscription='remove'/>" % c)
    expect_error(got, rid, 'item-not-found', 'cancel')
    rid, got = _roster_set(alice, "<item jid='%s'/>" % c)
    expect_success(got, rid)
    rid, got = _roster_set(alice, "<item jid='%s' subscription='remove'/>" % c)
    assert expect_success(got, rid).get('subscription') == 'remove'
    rid, got = _roster_set(alice, "<item jid='%s' subscription='remove'/>" % c)
    expect_error(got, rid, 'item-not-found', 'cancel')


def test_remove_pending_request_only_is_item_not_found(server, alice):
    """RFC 6121 §3.1.3: a subscription request the user has not answered
    adds no item to her roster, so removing that contact is
    <item-not-found/> (§2.5.3) and the request is still pending."""
    bj, bpw = server.new_user('bob')
    bob = server.raw_login(bj, bpw, resource='b')
    try:
        bob.send("<presence type='subscribe' to='%s'/>" % alice.bare)
        bob.iq('get', PING)  # the request has been handled
        assert bj not in _roster(alice)
        rid, got = _roster_set(alice, "<item jid='%s' subscription='remove'/>" % bj)
        expect_error(got, rid, 'item-not-found', 'cancel')
        # Still pending: approving it now gives bob a subscription.
        alice.send("<presence type='subscribed' to='%s'/>" % bj)
        item = _pushed_item(_pushes(_sync(alice))[-1])
        assert item.get('jid') == bj and item.get('subscription') == 'from', ET.tostring(item)
    finally:
        bob.close()


# -- §2.1.5 security warning, §2.3.3: someone else's roster ------------------------------

@pytest.mark.parametrize('kind', ['set', 'get', 'remove'])
def test_other_accounts_roster_is_forbidden(server, alice, kind):
    """RFC 6121 §2.1.5 and §2.3.3: only the account itself may read or
    change its roster; a roster IQ addressed to another account's bare JID
    is <forbidden/> (type auth) and does not reach or change that roster."""
    bj, bpw = server.new_user('bob')
    bob = server.raw_login(bj, bpw, resource='b')
    try:
        _roster(bob)
        c = _contact(server)
        rid, got = _roster_set(bob, "<item jid='%s'/>" % c)
        expect_success(got, rid)
        if kind == 'get':
            rid, got = _exchange(alice, "<iq type='get' id='%%s' to='%s'><query xmlns='%s'/></iq>"
                                 % (bj, NS_ROSTER))
        else:
            sub = " subscription='remove'" if kind == 'remove' else ''
            rid, got = _roster_set(alice, "<item jid='%s'%s/>" % (c if sub else alice.bare, sub),
                                   to=bj)
        expect_error(got, rid, 'forbidden', 'auth')
        assert got[0].get('from') == bj
        got = _sync(bob)
        assert got == [], 'bob was told: %s' % [ET.tostring(e) for e in got]
        assert list(_roster(bob)) == [c]
    finally:
        bob.close()


def test_roster_set_to_own_bare_jid_is_allowed(server, alice):
    """Control for the test above: a roster set addressed to the sender's own
    bare JID is the account's own (RFC 6121 §2.1.5: the sender is
    authorized)."""
    c = _contact(server)
    rid, got = _roster_set(alice, "<item jid='%s'/>" % c, to=alice.bare)
    expect_success(got, rid)
    assert list(_roster(alice)) == [c]


# -- roster size limit -------------------------------------------------------------

def _fill_roster(server, jid, pw, n):
    """n items added by roster sets sent in one batch from a session that
    never fetched the roster (so no pushes come back), all answered."""
    s = server.raw_login(jid, pw, resource='filler')
    try:
        ids = [new_id('fill') for _ in range(n)]
        s.send(''.join("<iq type='set' id='%s'><query xmlns='%s'><item jid='filler%d@%s'/>"
                       "</query></iq>" % (rid, NS_ROSTER, i, server.domain)
                       for i, rid in enumerate(ids)))
        for rid in ids:
            el = s.next_element()
            assert el.get('id') == rid and el.get('type') == 'result', ET.tostring(el)
    finally:
        s.close()


def test_roster_size_limit_is_policy_violation(server):
    """A roster holding the server's maximum of items (CORE_ROSTER_MAX):
    adding one more is refused with <policy-violation/> (RFC 6120 §8.3.3.12,
    a local service policy the client can comply with, type modify; RFC
    6121 §2.3.3 allows "other stanza errors" and names none for this).
    Existing items can still be updated, and after a removal there is room
    for the new one."""
    aj, apw = server.new_user('full')
    _fill_roster(server, aj, apw, ROSTER_MAX - 1)
    alice = server.raw_login(aj, apw, resource='r')
    assert len(_roster(alice)) == ROSTER_MAX - 1
    last, extra = _contact(server, 'last'), _contact(server, 'extra')
    rid, got = _roster_set(alice, "<item jid='%s'/>" % last)  # the ROSTER_MAX-th
    expect_success(got, rid)
    rid, got = _roster_set(alice, "<item jid='%s'/>" % extra)
    expect_error(got, rid, 'policy-violation', 'modify')
    roster = _roster(alice)
    assert len(roster) == ROSTER_MAX and extra not in roster
    rid, got = _roster_set(alice, "<item jid='%s' name='renamed'/>" % last)
    assert expect_success(got, rid).get('name') == 'renamed'
    rid, got = _roster_set(alice, "<item jid='%s' subscription='remove'/>" % last)
    expect_success(got, rid)
    rid, got = _roster_set(alice, "<item jid='%s'/>" % extra)
    expect_success(got, rid)
    alice.close()
