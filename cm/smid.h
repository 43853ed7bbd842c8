/* smid: SM-IDs whose sessions moved (XEP-0198 §5).  A client keeps the SM-ID
 * of its first <enabled/> for every later resumption, but a session taken up
 * from the core after a cm restart (sm_resume.c) lives in a slot that ID
 * does not name.  The ID's secret token, which such a session keeps, leads
 * to the slot instead: this table, the one thing the workers share about
 * sessions, under a lock taken once per resumption. */
#ifndef STARLING_CM_SMID_H
#define STARLING_CM_SMID_H
#include <stdint.h>

/* token: HANDOFF_TOKEN_HEX characters.  Returns 0 or -ENOMEM. */
int smid_add(const char *token, unsigned worker, uint32_t sid);
/* 0 and the session's place, or -1 when the token has none. */
int smid_find(const char *token, unsigned *worker, uint32_t *sid);
void smid_del(const char *token);

#endif
