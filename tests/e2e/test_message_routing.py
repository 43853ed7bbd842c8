"""Message routing to local accounts, cell by cell against RFC 6121 §8.5
(§8.5.1 no such account, §8.5.2 bare JID, §8.5.3 full JID) as summed up in
table 1 of §8.5.4, for every message type (normal, chat, groupchat,
headline, error, and no type, which means normal: RFC 6121 §5.2.2).

Where the RFC leaves a choice, the expectation is Starling's:
  O/E  -> O: stored offline (XEP-0160), delivered at the next available
              presence with a non-negative priority
  S/E  -> E for normal, chat and groupchat (<service-unavailable/>),
          S for headline and error
  M/A  -> M: the resources with the highest priority (all of them when
              several share it); A (headline) is every non-negative one

Raw sessions, two cm workers (sessions of one account on different links);
"nothing arrives" is proved by ordering (routing_helpers), and a message
that is neither delivered nor bounced is looked for in offline storage by
a later session: there if the rule is O, absent if it is S."""
import pytest

from routing_helpers import Session, expect_bounce, expect_nothing_back, seen_by, tag_is
from xmpp_raw import NS_CLIENT, NS_STANZA_ERR, new_id, q

SERVER_OPTIONS = {'workers': 2}

TYPES = [None, 'normal', 'chat', 'groupchat', 'headline', 'error']
TYPE_IDS = ['notype', 'normal', 'chat', 'groupchat', 'headline', 'error']

# Which resources each condition logs in for the contact: name -> priority
# (None: connected, no presence).
CONDITIONS = {
    'none': {},
    'connected': {'c': None},
    'negative': {'n': -1},
    'one': {'p': 0},
    'many': {'a': 5, 'b': 5, 'c': 1, 'n': -1},
}


def _send(sender, to, mtype, body):
    mid = new_id('msg')
    attr = '' if mtype is None else " type='%s'" % mtype
    err = ("<error type='cancel'><service-unavailable xmlns='%s'/></error>" % NS_STANZA_ERR
           if mtype == 'error' else '')
    sender.send("<message id='%s' to='%s'%s><body>%s</body>%s</message>"
                % (mid, to, attr, body, err))
    return mid


class Scene:
    """A sender and a fresh contact account with the condition's sessions."""

    def __init__(self, server, condition):
        aj, apw = server.new_user('sender')
        self.server = server
        self.bob, self.bpw = server.new_user('rcpt')
        self.sender = Session(server, aj, apw, 'snd')
        self.res = {name: Session(server, self.bob, self.bpw, name, prio)
                    for name, prio in CONDITIONS[condition].items()}

    def close(self):
        for s in [self.sender] + list(self.res.values()):
            s.close()

    def check(self, to, mtype, outcome, receivers=()):
        """Send one message of mtype to `to` and check the outcome: 'E'
        (bounced), 'S' (dropped), 'O' (stored) or 'D' (delivered to exactly
        the sessions named in receivers, 'to' not rewritten)."""
        body = 'routing %s %s' % (mtype, new_id(''))
        mid = _send(self.sender, to, mtype, body)
        back, got = seen_by(self.sender, list(self.res.values()), mid)
        if outcome == 'E':
            expect_bounce(back, 'message', mid, to)
        else:
            expect_nothing_back(back)
        delivered = {name for name, s in self.res.items() if got[s]}
        want = set(receivers) if outcome == 'D' else set()
        assert delivered == want, 'delivered to %s, expected %s' % (sorted(delivered),
                                                                     sorted(want))
        for name in delivered:
            m, = got[self.res[name]]  # once per resource
            # RFC 6121 §8.5.2.1.1: the server MUST NOT rewrite 'to'.
            assert m.get('to') == to and m.get('from') == self.sender.full
        if outcome in ('S', 'O'):
            self._check_stored(body, outcome == 'O')

    def _check_stored(self, body, stored):
        """A later session with initial presence at priority 0 gets the
        offline messages (XEP-0160) before its ping result."""
        later = Session(self.server, self.bob, self.bpw, 'later-' + new_id(''), 0)
        try:
            bodies = [el.findtext(q(NS_CLIENT, 'body')) for el in later.backlog
                      if tag_is(el, 'message')]
            assert (body in bodies) == stored, '%r %s offline storage (got %s)' % (
                body, 'not in' if stored else 'in', bodies)
        finally:
            later.close()


@pytest.fixture
def scene(server, request):
    sc = Scene(server, request.param)
    yield sc
    sc.close()


def _scene(condition):
    return pytest.mark.parametrize('scene', [condition], indirect=True, ids=[condition])


def _types(table):
    return pytest.mark.parametrize('mtype, cell', [(t, table[t or 'normal']) for t in TYPES],
                                   ids=TYPE_IDS)


# -- §8.5.2: the bare JID of an existing account --------------------------------------

# §8.5.2.2.1 (and §8.5.2.1.1, last paragraphs: only negative resources or
# only connected ones count as none): normal, chat O/E; groupchat E;
# headline and error S.
NO_RESOURCE_BARE = {'normal': 'O', 'chat': 'O', 'groupchat': 'E', 'headline': 'S',
                    'error': 'S'}


@_scene('none')
@_types(NO_RESOURCE_BARE)
def test_bare_no_resource(scene, mtype, cell):
    """Table 1, "account exists, but no active resources", bare."""
    scene.check(scene.bob, mtype, cell)


@_scene('connected')
@_types(NO_RESOURCE_BARE)
def test_bare_connected_not_available(scene, mtype, cell):
    """A connected resource that sent no presence is not available
    (RFC 6121 §4.1): a bare-JID message is not delivered to it."""
    scene.check(scene.bob, mtype, cell)


@_scene('negative')
@_types(NO_RESOURCE_BARE)
def test_bare_only_negative_priority(scene, mtype, cell):
    """Table 1, "1+ negative resources but zero non-negative", bare: §8.5.2.1.1
    never delivers to a negative priority; handled as no resource."""
    scene.check(scene.bob, mtype, cell)


@_scene('one')
@_types({'normal': 'D', 'chat': 'D', 'groupchat': 'E', 'headline': 'D', 'error': 'S'})
def test_bare_one_non_negative(scene, mtype, cell):
    """Table 1, "1 non-negative resource", bare (§8.5.2.1.1)."""
    scene.check(scene.bob, mtype, cell, receivers=['p'])


@_scene('many')
@pytest.mark.parametrize('mtype, cell, receivers', [
    (None, 'D', 'ab'), ('normal', 'D', 'ab'), ('chat', 'D', 'ab'),
    ('groupchat', 'E', ''), ('headline', 'D', 'abc'), ('error', 'S', '')], ids=TYPE_IDS)
def test_bare_several_non_negative(scene, mtype, cell, receivers):
    """Table 1, "1+ non-negative resources", bare: normal and chat go to the
    "most available" (both priority-5 resources, not the priority-1 one: M),
    headline to every non-negative resource (A), never to the negative one
    (§8.5.2.1.1); groupchat E, error S."""
    scene.check(scene.bob, mtype, cell, receivers=list(receivers))


# -- §8.5.3.1: a full JID that matches a resource -----------------------------------

ALL_DELIVERED = {t: 'D' for t in ('normal', 'chat', 'groupchat', 'headline', 'error')}


@pytest.mark.parametrize('scene, name', [('connected', 'c'), ('negative', 'n'), ('one', 'p'),
                                         ('many', 'c'), ('many', 'n')],
                         indirect=['scene'], ids=['connected', 'negative', 'one', 'many-low',
                                                  'many-negative'])
@_types(ALL_DELIVERED)
def test_full_jid_match(scene, name, mtype, cell):
    """Table 1, "full match" rows (§8.5.3.1): a message of any type to a
    connected resource's full JID is delivered to that resource only,
    whatever its priority or availability."""
    scene.check(scene.res[name].full, mtype, cell, receivers=[name])


# -- §8.5.3.2.1: a full JID that matches no resource -----------------------------------

def _nowhere(scene):
    return scene.bob + '/nowhere'


# normal and groupchat S/E -> E; headline S/E -> S; error S; chat follows
# the bare JID's rules.
NO_MATCH = {'normal': 'E', 'groupchat': 'E', 'headline': 'S', 'error': 'S'}


@pytest.mark.parametrize('scene', ['none', 'connected', 'negative'], indirect=True)
@_types(dict(NO_MATCH, chat='O'))
def test_full_jid_no_match_no_resource(scene, mtype, cell):
    """Table 1, "full (no match)" with no active or only negative resources:
    chat O/E (stored), normal and groupchat S/E (bounced), headline S/E
    (dropped), error S."""
    scene.check(_nowhere(scene), mtype, cell)


@_scene('one')
@_types(dict(NO_MATCH, chat='D'))
def test_full_jid_no_match_one_non_negative(scene, mtype, cell):
    """Table 1, "1 non-negative resource", full no match: only chat falls
    back to the bare JID and reaches the resource (D)."""
    scene.check(_nowhere(scene), mtype, cell, receivers=['p'])


@_scene('many')
@_types(dict(NO_MATCH, chat='D'))
def test_full_jid_no_match_several_non_negative(scene, mtype, cell):
    """Table 1, "1+ non-negative resources", full no match: chat goes to the
    most available resources (M); the others as above."""
    scene.check(_nowhere(scene), mtype, cell, receivers=['a', 'b'])


# -- §8.5.1: no such account ---------------------------------------------------------

@pytest.mark.parametrize('address', ['bare', 'full'])
@_types({'normal': 'E', 'chat': 'E', 'groupchat': 'E', 'headline': 'S', 'error': 'S'})
def test_no_such_account(server, address, mtype, cell):
    """§8.5.1 and table 1, "account does not exist": normal and chat S/E
    (bounced with <service-unavailable/>), groupchat E, headline S for a
    bare JID (S/E for a full one: dropped too), error S (RFC 6120 §8.3.1:
    never answered)."""
    aj, apw = server.new_user('sender')
    sender = Session(server, aj, apw, 'snd')
    try:
        to = 'ghost-%s@%s' % (new_id(''), server.domain) + ('/r' if address == 'full' else '')
        mid = _send(sender, to, mtype, 'to nobody')
        back, _ = seen_by(sender, [], mid)
        if cell == 'E':
            expect_bounce(back, 'message', mid, to)
        else:
            expect_nothing_back(back)
    finally:
        sender.close()


def test_detection_can_fail(server):
    """Control for the method: a message that is delivered is seen before
    the marker, and a bounce before the sender's ping result, so the tests
    above would notice a delivery or an error where they expect none."""
    sc = Scene(server, 'one')
    try:
        mid = _send(sc.sender, sc.bob, 'chat', 'control')
        _, got = seen_by(sc.sender, [sc.res['p']], mid)
        assert len(got[sc.res['p']]) == 1
        mid = _send(sc.sender, sc.bob, 'groupchat', 'control')
        back, _ = seen_by(sc.sender, [], mid)
        assert len(back) == 1
    finally:
        sc.close()
