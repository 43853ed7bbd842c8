"""Raw sessions for the routing tests (test_message_routing.py,
test_iq_rules.py): each keeps what it received, so waiting for one element
never loses another, and "nothing arrived" is proved by ordering:

- sync(): a ping to the server; the core answers it after everything it
  had already queued for this session, so the elements read before the
  result are all that the session's own earlier stanzas caused for it;
- marker: a chat message from the sender to the receiver's full JID, sent
  after the stanza under test on the same stream.  The core handles one
  sender's stanzas in order, so anything the stanza under test caused for
  the receiver is queued before the marker.

No assertion depends on a timer."""
import xml.etree.ElementTree as ET

from xmpp_raw import NS_CLIENT, NS_STANZA_ERR, new_id, q, stanza_error

PING = "<ping xmlns='urn:xmpp:ping'/>"


def tag_is(el, kind):
    return el.tag == q(NS_CLIENT, kind)


class Session:
    """One bound raw session; priority (an int) sends initial presence with
    that <priority/> and waits until the core has handled it."""

    def __init__(self, server, jid, password, resource, priority=None):
        self.s = server.raw_login(jid, password, resource)
        self.full = self.s.jid
        self.bare = self.full.split('/')[0]
        self.backlog = []
        if priority is not None:
            self.s.send('<presence><priority>%d</priority></presence>' % priority)
            self.sync()

    def __repr__(self):
        return self.full

    def close(self):
        self.s.close()

    def send(self, xml):
        self.s.send(xml)

    def _next(self):
        if self.backlog:
            return self.backlog.pop(0)
        return self.s.next_element()

    def sync(self):
        """Ping the server; returns (and keeps in the backlog) every element
        that arrived before the result."""
        pid = new_id('sync')
        self.s.send("<iq type='get' id='%s'>%s</iq>" % (pid, PING))
        got = []
        while True:
            el = self.s.next_element()
            if tag_is(el, 'iq') and el.get('id') == pid:
                assert el.get('type') == 'result', ET.tostring(el)
                break
            got.append(el)
        self.backlog += got
        return list(got)

    def until(self, marker_id):
        """Every element before the message marker_id (which is consumed);
        the backlog is emptied."""
        got = []
        while True:
            el = self._next()
            if tag_is(el, 'message') and el.get('id') == marker_id:
                return got
            got.append(el)

    def mark(self, target):
        """A marker message to target's full JID; returns its id."""
        mid = new_id('mark')
        self.s.send("<message type='chat' id='%s' to='%s'><body>marker</body></message>"
                    % (mid, target.full))
        return mid


def seen_by(sender, targets, stanza_id):
    """After sender sent the stanza stanza_id: what came back to the sender
    for it, and what each target received of it, as (back, {target: [el]})."""
    marks = {t: sender.mark(t) for t in targets}
    back = [el for el in sender.sync() if el.get('id') == stanza_id]
    sender.backlog = [el for el in sender.backlog if el.get('id') != stanza_id]
    got = {t: [el for el in t.until(marks[t]) if el.get('id') == stanza_id] for t in targets}
    return back, got


def expect_bounce(back, kind, stanza_id, frm, condition='service-unavailable'):
    """Exactly one error of kind came back for stanza_id, from the address
    the stanza was sent to (RFC 6120 §8.3.2), with condition."""
    assert len(back) == 1, 'expected one error, got %s' % [ET.tostring(e) for e in back]
    el = back[0]
    assert tag_is(el, kind) and el.get('type') == 'error', ET.tostring(el)
    assert el.get('id') == stanza_id and el.get('from') == frm, ET.tostring(el)
    assert stanza_error(el) == condition, ET.tostring(el)
    err = el.find(q(NS_CLIENT, 'error'))
    assert err.get('type') == 'cancel', ET.tostring(el)
    assert err.find(q(NS_STANZA_ERR, condition)) is not None


def expect_nothing_back(back):
    assert back == [], 'the sender got %s' % [ET.tostring(e) for e in back]
