"""IQ routing rules for local addresses: RFC 6120 §8.2.3 (a get or set is
always answered, a result or error never is), RFC 6121 §8.5.1 (no such
account), §8.5.2.1.3 and §8.5.2.2.3 (a bare JID: the server answers for the
account, never delivers), §8.5.3.1 and §8.5.3.2.3 (a full JID).

Raw sessions on two cm workers; "not delivered" and "no answer" are proved
by ordering (routing_helpers)."""
import xml.etree.ElementTree as ET

import pytest

from routing_helpers import PING, Session, expect_bounce, expect_nothing_back, seen_by, tag_is
from xmpp_raw import NS_STANZA_ERR, new_id

SERVER_OPTIONS = {'workers': 2}

PAYLOADS = {
    'ping': PING,
    'unknown': "<query xmlns='urn:example:starling:unknown'/>",
}


class Scene:
    """alice (two sessions: 'snd' sends, 'own' watches) and bob (an available
    session 'p' and a connected one 'c') unless bob_online is false."""

    def __init__(self, server, bob_online=True):
        aj, apw = server.new_user('alice')
        bj, bpw = server.new_user('bob')
        self.domain = server.domain
        self.alice, self.bob = aj, bj
        self.sender = Session(server, aj, apw, 'snd')
        self.watch = [Session(server, aj, apw, 'own', 0)]
        if bob_online:
            self.watch += [Session(server, bj, bpw, 'p', 0), Session(server, bj, bpw, 'c')]

    def close(self):
        for s in [self.sender] + self.watch:
            s.close()

    def send_iq(self, type_, to, payload=''):
        rid = new_id('iq')
        to_attr = '' if to is None else " to='%s'" % to
        if type_ == 'error':
            payload += ("<error type='cancel'><service-unavailable xmlns='%s'/></error>"
                        % NS_STANZA_ERR)
        self.sender.send("<iq type='%s' id='%s'%s>%s</iq>" % (type_, rid, to_attr, payload))
        return rid

    def observe(self, rid):
        """(what came back to the sender, True if any other session got it)"""
        back, got = seen_by(self.sender, self.watch, rid)
        return back, [s for s, els in got.items() if els]


@pytest.fixture
def scene(server, request):
    sc = Scene(server, getattr(request, 'param', True))
    yield sc
    sc.close()


# -- get/set: always answered ----------------------------------------------------------

@pytest.mark.parametrize('scene', [True, False], indirect=True, ids=['online', 'offline'])
@pytest.mark.parametrize('payload', PAYLOADS)
@pytest.mark.parametrize('type_', ['get', 'set'])
def test_iq_to_other_bare_jid_is_service_unavailable(scene, type_, payload):
    """RFC 6121 §8.5.2.1.3 (the account has resources) and §8.5.2.2.3 (it
    has none): an IQ to a bare JID is answered by the server on the
    account's behalf and MUST NOT be delivered to a resource; for a
    namespace the server does not answer for an account, the answer is
    <service-unavailable/>."""
    rid = scene.send_iq(type_, scene.bob, PAYLOADS[payload])
    back, reached = scene.observe(rid)
    expect_bounce(back, 'iq', rid, scene.bob)
    assert reached == [], 'delivered to %s' % reached


@pytest.mark.parametrize('type_', ['get', 'set'])
def test_iq_to_own_bare_jid_unhandled_is_service_unavailable(scene, type_):
    """§8.5.2.1.3 for the sender's own account: the server answers
    <service-unavailable/> for a namespace it does not handle there, and
    the account's other resource does not see the IQ."""
    rid = scene.send_iq(type_, scene.alice, PAYLOADS['unknown'])
    back, reached = scene.observe(rid)
    expect_bounce(back, 'iq', rid, scene.alice)
    assert reached == [], 'delivered to %s' % reached


@pytest.mark.parametrize('scene', [True, False], indirect=True, ids=['online', 'offline'])
@pytest.mark.parametrize('type_', ['get', 'set'])
def test_iq_to_missing_resource_is_service_unavailable(scene, type_):
    """RFC 6121 §8.5.3.2.3: an IQ to a full JID that matches no connected
    resource is <service-unavailable/>, whether or not the account has
    other resources (which do not get it)."""
    to = scene.bob + '/nowhere'
    rid = scene.send_iq(type_, to, PING)
    back, reached = scene.observe(rid)
    expect_bounce(back, 'iq', rid, to)
    assert reached == [], 'delivered to %s' % reached


@pytest.mark.parametrize('address', ['bare', 'full'])
@pytest.mark.parametrize('type_', ['get', 'set'])
def test_iq_to_missing_account_is_service_unavailable(scene, address, type_):
    """RFC 6121 §8.5.1: an IQ to an account that does not exist (bare or
    full JID) is <service-unavailable/>."""
    to = 'ghost-%s@%s%s' % (new_id(''), scene.domain, '/r' if address == 'full' else '')
    rid = scene.send_iq(type_, to, PING)
    back, _ = scene.observe(rid)
    expect_bounce(back, 'iq', rid, to)


# -- result/error: never answered ---------------------------------------------------------

def _targets(scene):
    return {
        'no-to': None,
        'domain': scene.domain,
        'own-bare': scene.alice,
        'other-bare': scene.bob,
        'missing-resource': scene.bob + '/nowhere',
        'missing-account-bare': 'ghost@' + scene.domain,
        'missing-account-full': 'ghost@%s/r' % scene.domain,
    }


@pytest.mark.parametrize('target', ['no-to', 'domain', 'own-bare', 'other-bare',
                                    'missing-resource', 'missing-account-bare',
                                    'missing-account-full'])
@pytest.mark.parametrize('type_', ['result', 'error'])
def test_iq_result_error_not_for_a_resource_is_dropped(scene, type_, target):
    """RFC 6120 §8.2.3: an IQ result or error is not answered; addressed to
    the server, to a bare JID (RFC 6121 §8.5.2.1.3: an IQ is never
    delivered to a resource of a bare JID), to a resource that is not
    connected or to an account that does not exist, it is silently
    dropped: no error comes back (RFC 6120 §8.3.1 for errors) and no
    session gets it."""
    rid = scene.send_iq(type_, _targets(scene)[target])
    back, reached = scene.observe(rid)
    expect_nothing_back(back)
    assert reached == [], 'delivered to %s' % reached


@pytest.mark.parametrize('type_', ['result', 'error'])
def test_iq_result_error_to_connected_resource_is_delivered(scene, type_):
    """Control for the test above (RFC 6121 §8.5.3.1: an IQ result or error
    to a connected full JID MUST be delivered): the method sees a delivery
    when there is one."""
    target = scene.watch[2]  # bob's connected session without presence
    rid = scene.send_iq(type_, target.full)
    back, got = seen_by(scene.sender, [target], rid)
    expect_nothing_back(back)
    el, = got[target]
    assert tag_is(el, 'iq') and el.get('type') == type_, ET.tostring(el)
    assert el.get('from') == scene.sender.full
