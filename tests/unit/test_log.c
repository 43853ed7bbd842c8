/* test_log: the three line formats, connection fields and escaping. */
#include "lib/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static char path[] = "/tmp/starling-test-log-XXXXXX";
static char got[4096];

/* The file's last line without its timestamp, which varies: the part after
 * the first space (text, logfmt) or after the ts field (json). */
static const char *last_line(void)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	got[0] = '\0';
	while (f && fgets(line, sizeof line, f))
		snprintf(got, sizeof got, "%s", line);
	if (f)
		fclose(f);
	char *p = got[0] == '{' ? strstr(got, "\",\"") : strchr(got, ' ');
	return p ? p + (got[0] == '{' ? 2 : 1) : got;
}

int main(void)
{
	int fd = mkstemp(path);
	if (fd < 0)
		return 1;
	close(fd);
	log_init("starling-test", LOG_LEVEL_INFO);

	CHECK(log_format_parse("json") == LOG_FORMAT_JSON && log_format_parse("XML") == -1);
	CHECK(log_output(LOG_FORMAT_TEXT, "/nonexistent/dir/log") < 0);

	CHECK(log_output(LOG_FORMAT_TEXT, path) == 0);
	log_info("plain %d", 1);
	CHECK_STR(last_line(), "starling-test info: plain 1\n");
	log_conn(LOG_LEVEL_WARN, 7, "a@b/r", "closed %s", "now");
	CHECK_STR(last_line(), "starling-test warn: conn 7: closed now\n");
	log_conn(LOG_LEVEL_DEBUG, 7, NULL, "hidden");
	CHECK_STR(last_line(), "starling-test warn: conn 7: closed now\n"); /* below the level */

	CHECK(log_output(LOG_FORMAT_LOGFMT, NULL) == 0);
	log_conn(LOG_LEVEL_INFO, 0, "a@b/r x", "say \"hi\"\n");
	CHECK_STR(last_line(), "level=info proc=starling-test conn=0 jid=\"a@b/r x\" "
			       "msg=\"say \\\"hi\\\"\\u000a\"\n");
	log_conn(LOG_LEVEL_INFO, 3, "", "no jid yet");
	CHECK_STR(last_line(), "level=info proc=starling-test conn=3 msg=\"no jid yet\"\n");

	CHECK(log_output(LOG_FORMAT_JSON, NULL) == 0);
	log_error("a\\b");
	CHECK_STR(last_line(),
		  "\"level\":\"error\",\"proc\":\"starling-test\",\"msg\":\"a\\\\b\"}\n");
	log_conn(LOG_LEVEL_INFO, 9, "u@h", "x");
	CHECK_STR(last_line(), "\"level\":\"info\",\"proc\":\"starling-test\",\"conn\":9,"
			       "\"jid\":\"u@h\",\"msg\":\"x\"}\n");
	/* A message of control bytes grows sixfold when escaped: the line is
	 * cut inside the value and still closes it. */
	char big[1400];
	memset(big, '\t', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_conn(LOG_LEVEL_INFO, 1, "u@h", "%s", big);
	const char *l = last_line();
	size_t n = strlen(l);
	CHECK(n > 1000 && n < 2048 && !strcmp(l + n - 3, "\"}\n"));
	unlink(path);
	CHECK_DONE();
}
