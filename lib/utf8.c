#include "utf8.h"

size_t utf8_next(const char *str, const char *end, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str, *e = (const unsigned char *)end;
	unsigned c = *s, need, min;
	uint32_t v;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		need = 1, min = 0x80, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2, min = 0x800, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3, min = 0x10000, v = c & 0x07;
	else
		return 0;
	if ((size_t)(e - s) <= need)
		return 0;
	for (unsigned i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return need + 1;
}

int utf8_valid(const char *str, size_t n)
{
	const char *e = str + n;
	uint32_t cp;
	while (str < e) {
		size_t k = (unsigned char)*str < 0x80 ? 1 : utf8_next(str, e, &cp);
		if (!k)
			return 0;
		str += k;
	}
	return 1;
}

int utf8_xml_char(uint32_t v)
{
	return v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF) ||
	       (v >= 0xE000 && v <= 0xFFFD) || (v >= 0x10000 && v <= 0x10FFFF);
}
