/* test_pkginfo.c — proxy/pkginfo: metadata from real archives (built here
 * with libarchive's writer, and the Python-made fixtures), hostile archives
 * (bombs, garbage, truncation, too many members), and the metadata parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <zlib.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "proxy/pkginfo.h"

#define FIXTURES "tests/unit/fixtures/"

/* ---- building archives --------------------------------------------------- */

struct member {
	const char *name;
	const char *data;    /* NULL: a directory */
	size_t len;          /* bytes of data; when zeros is set, the count of zero bytes */
	int zeros;
};

static la_ssize_t write_cb(struct archive *a, void *arg, const void *p, size_t n)
{
	assert_int_equal(buf_add(arg, p, n), ERR_OK);
	return (la_ssize_t)n;
}

enum fmt { ZIP, ZIP64, TAR_GZ, TAR_BZ2, TAR };

/* Builds an archive of the members; the caller releases *out. */
static void build(enum fmt f, const struct member *m, size_t n, struct buf *out)
{
	static const char zeros[64 << 10];
	struct archive *a = archive_write_new();
	buf_init(out, 0);
	assert_non_null(a);
	if (f == ZIP || f == ZIP64) {
		assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
		if (f == ZIP64)
			assert_int_equal(archive_write_set_format_option(a, "zip", "zip64", "1"), ARCHIVE_OK);
	} else {
		assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
		if (f == TAR_GZ)
			assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
		else if (f == TAR_BZ2)
			assert_int_equal(archive_write_add_filter_bzip2(a), ARCHIVE_OK);
	}
	assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
	assert_int_equal(archive_write_open(a, out, NULL, write_cb, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_mtime(e, 1700000000, 0);
		if (!m[i].data && !m[i].zeros) {
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0755);
		} else {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_size(e, (la_int64_t)m[i].len);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (m[i].zeros) {
			for (size_t left = m[i].len; left;) {
				size_t k = left < sizeof zeros ? left : sizeof zeros;
				assert_int_equal(archive_write_data(a, zeros, k), (la_ssize_t)k);
				left -= k;
			}
		} else if (m[i].data && m[i].len) {
			assert_int_equal(archive_write_data(a, m[i].data, m[i].len), (la_ssize_t)m[i].len);
		}
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

#define FILE_MEMBER(n, s) { (n), (s), sizeof(s) - 1, 0 }

static int extract(const void *p, size_t n, const char *filename, const struct pkginfo_limits *lim, char **text)
{
	struct pkginfo_mem m;
	struct pkginfo_reader r;
	size_t len = 0;
	pkginfo_reader_mem(&r, p, n, &m);
	int rc = pkginfo_extract(&r, filename, lim, text, &len);
	if (rc == ERR_OK) {
		assert_non_null(*text);
		assert_int_equal((*text)[len], '\0');
	} else {
		assert_null(*text);
	}
	return rc;
}

static void read_file(const char *path, struct buf *b)
{
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	buf_init(b, 0);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		assert_int_equal(buf_add(b, chunk, n), ERR_OK);
	fclose(f);
}

static const char metadata_21[] =
	"Metadata-Version: 2.1\n"
	"Name: demo\n"
	"Version: 0.1\n"
	"Summary: a wheel built in the test\n"
	"\n"
	"body text\n";

static const char pkg_info_11[] =
	"Metadata-Version: 1.1\n"
	"Name: demo\n"
	"Version: 0.1\n"
	"Summary: an sdist built in the test\n";

static cJSON *parse(const char *s)
{
	cJSON *o = NULL;
	assert_int_equal(pkginfo_parse(s, strlen(s), &o), ERR_OK);
	assert_non_null(o);
	return o;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static const cJSON *arr(const cJSON *o, const char *key, int n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_true(cJSON_IsArray(v));
	assert_int_equal(cJSON_GetArraySize(v), n);
	return v;
}

/* ---- archives: the good cases ------------------------------------------- */

static void test_fixture_wheel(void **state)
{
	struct buf f;
	char *text = NULL;
	read_file(FIXTURES "demo_pkg-1.0-py3-none-any.whl", &f);
	assert_int_equal(extract(f.p, f.len, "demo_pkg-1.0-py3-none-any.whl", NULL, &text), ERR_OK);
	cJSON *o = parse(text);
	assert_string_equal(str(o, "metadata_version"), "2.1");
	assert_string_equal(str(o, "name"), "demo-pkg");
	assert_string_equal(str(o, "version"), "1.0");
	assert_string_equal(str(o, "summary"), "A demo package");
	assert_string_equal(str(o, "home_page"), "https://example.org/demo");
	assert_string_equal(str(o, "author_email"), "ann@example.org");
	assert_string_equal(str(o, "requires_python"), ">=3.8");
	assert_string_equal(str(o, "description_content_type"), "text/markdown");
	assert_string_equal(str(o, "description"), "# Demo\n\nThe long description, from the body.\n");
	const cJSON *c = arr(o, "classifiers", 2);
	assert_string_equal(cJSON_GetArrayItem(c, 0)->valuestring, "Programming Language :: Python :: 3");
	assert_string_equal(cJSON_GetArrayItem(c, 1)->valuestring, "License :: OSI Approved :: MIT License");
	const cJSON *rd = arr(o, "requires_dist", 2);
	assert_string_equal(cJSON_GetArrayItem(rd, 0)->valuestring, "requests (>=2.0)");
	assert_string_equal(cJSON_GetArrayItem(rd, 1)->valuestring, "idna ; extra == 'net'");
	arr(o, "provides_extras", 1);
	arr(o, "platform", 0); /* Platform: UNKNOWN */
	assert_null(cJSON_GetObjectItem(o, "maintainer"));
	assert_int_equal(cJSON_GetArraySize(o), 15);
	cJSON_Delete(o);
	/* the same bytes as an egg or a tar are not what we look for */
	xfree(text);
	text = NULL;
	assert_int_equal(extract(f.p, f.len, "demo_pkg-1.0.egg", NULL, &text), ERR_NOTFOUND);
	assert_int_equal(extract(f.p, f.len, "demo_pkg-1.0.zip", NULL, &text), ERR_NOTFOUND);
	assert_int_equal(extract(f.p, f.len, "demo_pkg-1.0.tar.gz", NULL, &text), ERR_CORRUPT);
	buf_release(&f);
}

static void test_fixture_sdist(void **state)
{
	struct buf f;
	char *text = NULL;
	read_file(FIXTURES "demo-pkg-1.0.tar.gz", &f);
	/* demo_pkg.egg-info/PKG-INFO comes first in the tar; the top-level one wins */
	assert_int_equal(extract(f.p, f.len, "demo-pkg-1.0.tar.gz", NULL, &text), ERR_OK);
	cJSON *o = parse(text);
	assert_string_equal(str(o, "summary"), "top-level PKG-INFO");
	assert_string_equal(str(o, "metadata_version"), "1.1");
	assert_string_equal(str(o, "description"), "first line\nsecond line\n\nafter a blank line");
	arr(o, "platform", 0);
	cJSON_Delete(o);
	xfree(text);
	text = NULL;
	/* extension match is case-insensitive; .tgz is the same reader */
	assert_int_equal(extract(f.p, f.len, "DEMO-PKG-1.0.TGZ", NULL, &text), ERR_OK);
	xfree(text);
	text = NULL;
	assert_int_equal(extract(f.p, f.len, "demo-pkg-1.0.whl", NULL, &text), ERR_CORRUPT);
	buf_release(&f);
}

static void test_built_wheel(void **state)
{
	const struct member m[] = {
		FILE_MEMBER("demo/__init__.py", "x = 1\n"),
		FILE_MEMBER("demo-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\n"),
		FILE_MEMBER("demo-0.1.dist-info/METADATA", metadata_21),
	};
	struct buf z;
	char *text = NULL;
	build(ZIP, m, 3, &z);
	assert_int_equal(extract(z.p, z.len, "demo-0.1-py3-none-any.whl", NULL, &text), ERR_OK);
	assert_string_equal(text, metadata_21);
	xfree(text);
	buf_release(&z);
}

static void test_built_sdists(void **state)
{
	const struct member m[] = {
		{ "demo-0.1", NULL, 0, 0 },
		FILE_MEMBER("demo-0.1/setup.py", "import setuptools\n"),
		FILE_MEMBER("demo-0.1/PKG-INFO", pkg_info_11),
		FILE_MEMBER("demo-0.1/zzz.txt", "after\n"),
	};
	static const struct { enum fmt f; const char *name; } kinds[] = {
		{ TAR_GZ, "demo-0.1.tar.gz" }, { TAR_BZ2, "demo-0.1.tar.bz2" }, { TAR, "demo-0.1.tar" },
		{ ZIP, "demo-0.1.zip" },
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		struct buf a;
		char *text = NULL;
		build(kinds[i].f, m, 4, &a);
		assert_int_equal(extract(a.p, a.len, kinds[i].name, NULL, &text), ERR_OK);
		assert_string_equal(text, pkg_info_11);
		xfree(text);
		buf_release(&a);
	}
}

static void test_egg(void **state)
{
	const struct member m[] = {
		FILE_MEMBER("demo/__init__.py", ""),
		FILE_MEMBER("EGG-INFO/PKG-INFO", pkg_info_11),
	};
	struct buf z;
	char *text = NULL;
	build(ZIP, m, 2, &z);
	assert_int_equal(extract(z.p, z.len, "demo-0.1-py3.8.egg", NULL, &text), ERR_OK);
	assert_string_equal(text, pkg_info_11);
	xfree(text);
	buf_release(&z);
}

static void test_dot_slash_and_flat_sdist(void **state)
{
	const struct member dot[] = { FILE_MEMBER("./demo-0.1/PKG-INFO", pkg_info_11) };
	const struct member flat[] = { FILE_MEMBER("PKG-INFO", pkg_info_11) };
	struct buf a;
	char *text = NULL;
	build(TAR_GZ, dot, 1, &a);
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar.gz", NULL, &text), ERR_OK);
	xfree(text);
	text = NULL;
	buf_release(&a);
	build(TAR_GZ, flat, 1, &a);
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar.gz", NULL, &text), ERR_OK);
	xfree(text);
	buf_release(&a);
}

static void test_sdist_deeper_fallback(void **state)
{
	/* no top-level PKG-INFO: the shallowest deeper one with Metadata-Version */
	const struct member m[] = {
		FILE_MEMBER("demo-0.1/a/b/c/PKG-INFO", "Metadata-Version: 1.0\nSummary: depth 4\n"),
		FILE_MEMBER("demo-0.1/src/demo.egg-info/PKG-INFO", "Metadata-Version: 1.0\nSummary: depth 3\n"),
		FILE_MEMBER("demo-0.1/demo.egg-info/PKG-INFO", "not metadata\n"),
		FILE_MEMBER("demo-0.1/a/b/c/d/e/PKG-INFO", "Metadata-Version: 1.0\nSummary: too deep\n"),
	};
	struct buf a;
	char *text = NULL;
	build(TAR_GZ, m, 4, &a);
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar.gz", NULL, &text), ERR_OK);
	assert_string_equal(text, "Metadata-Version: 1.0\nSummary: depth 3\n");
	xfree(text);
	buf_release(&a);
}

/* ---- archives: no metadata ---------------------------------------------- */

static void test_wheel_without_dist_info(void **state)
{
	const struct member m[] = {
		FILE_MEMBER("demo/__init__.py", ""),
		FILE_MEMBER("demo/METADATA", metadata_21),
		FILE_MEMBER("METADATA", metadata_21),
		FILE_MEMBER("demo-0.1.dist-info", metadata_21),
		FILE_MEMBER(".dist-info/METADATA", metadata_21),
	};
	struct buf z;
	char *text = NULL;
	build(ZIP, m, 5, &z);
	assert_int_equal(extract(z.p, z.len, "demo-0.1-py3-none-any.whl", NULL, &text), ERR_NOTFOUND);
	buf_release(&z);
}

static void test_nested_dist_info_ignored(void **state)
{
	const struct member m[] = {
		FILE_MEMBER("a/b/x.dist-info/METADATA", metadata_21),
		FILE_MEMBER("a/x.dist-info/METADATA", metadata_21),
		FILE_MEMBER("x.dist-info/sub/METADATA", metadata_21),
		FILE_MEMBER("x.dist-info/../y.dist-info/METADATA", metadata_21),
		{ "x.dist-info/METADATA/", NULL, 0, 0 },
	};
	struct buf z;
	char *text = NULL;
	build(ZIP, m, 5, &z);
	assert_int_equal(extract(z.p, z.len, "x-1-py3-none-any.whl", NULL, &text), ERR_NOTFOUND);
	buf_release(&z);
}

static void test_sdist_without_pkg_info(void **state)
{
	const struct member m[] = {
		FILE_MEMBER("demo-0.1/setup.py", ""),
		FILE_MEMBER("demo-0.1/PKG-INFO.txt", pkg_info_11),
		FILE_MEMBER("demo-0.1/PKG-INFO", "Name: no metadata version header\n"),
	};
	struct buf a;
	char *text = NULL;
	build(TAR_GZ, m, 3, &a);
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar.gz", NULL, &text), ERR_NOTFOUND);
	buf_release(&a);
	/* a zip holding only a directory is a fine archive without metadata
	 * (a 22-byte empty zip is not: libarchive 3.6 does not recognize it) */
	const struct member dir[] = { { "demo-0.1/", NULL, 0, 0 } };
	build(ZIP, dir, 1, &a);
	assert_int_equal(extract(a.p, a.len, "demo-0.1.zip", NULL, &text), ERR_NOTFOUND);
	buf_release(&a);
}

/* ---- zips made by hand, for fields libarchive's writer does not produce ---- */

struct zmember {
	const char *name;
	const char *data;
	uint16_t method_cd, method_local;  /* data is stored whatever they say */
	int zip64;                         /* central record via the zip64 extra */
	uint64_t usize64;                  /* if set, the zip64 extra claims this size */
};

static void put16(struct buf *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	assert_int_equal(buf_add(b, p, 2), ERR_OK);
}

static void put32(struct buf *b, uint32_t v)
{
	put16(b, (uint16_t)v);
	put16(b, (uint16_t)(v >> 16));
}

static void put64(struct buf *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b, (uint32_t)(v >> 32));
}

static void zip_by_hand(const struct zmember *m, size_t n, struct buf *z)
{
	uint32_t offs[8];
	buf_init(z, 0);
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		size_t dl = strlen(m[i].data), nl = strlen(m[i].name);
		uint32_t crc = (uint32_t)crc32(0, (const Bytef *)m[i].data, (uInt)dl);
		offs[i] = (uint32_t)z->len;
		put32(z, 0x04034b50);
		put16(z, 20);
		put16(z, 0);
		put16(z, m[i].method_local);
		put16(z, 0);
		put16(z, 0x21);
		put32(z, crc);
		put32(z, (uint32_t)dl);
		put32(z, (uint32_t)dl);
		put16(z, (uint16_t)nl);
		put16(z, 0);
		buf_add(z, m[i].name, nl);
		buf_add(z, m[i].data, dl);
	}
	size_t cd = z->len;
	for (size_t i = 0; i < n; i++) {
		size_t dl = strlen(m[i].data), nl = strlen(m[i].name);
		uint32_t crc = (uint32_t)crc32(0, (const Bytef *)m[i].data, (uInt)dl);
		put32(z, 0x02014b50);
		put16(z, 0x031e);
		put16(z, m[i].zip64 ? 45 : 20);
		put16(z, 0);
		put16(z, m[i].method_cd);
		put16(z, 0);
		put16(z, 0x21);
		put32(z, crc);
		put32(z, m[i].zip64 ? 0xffffffffu : (uint32_t)dl);
		put32(z, m[i].zip64 ? 0xffffffffu : (uint32_t)dl);
		put16(z, (uint16_t)nl);
		put16(z, m[i].zip64 ? 28 : 0);
		put16(z, 0);
		put16(z, 0);
		put16(z, 0);
		put32(z, 0100644u << 16);
		put32(z, m[i].zip64 ? 0xffffffffu : offs[i]);
		buf_add(z, m[i].name, nl);
		if (m[i].zip64) {
			put16(z, 1);
			put16(z, 24);
			put64(z, m[i].usize64 ? m[i].usize64 : dl);
			put64(z, dl);
			put64(z, offs[i]);
		}
	}
	size_t cdlen = z->len - cd;
	put32(z, 0x06054b50);
	put16(z, 0);
	put16(z, 0);
	put16(z, (uint16_t)n);
	put16(z, (uint16_t)n);
	put32(z, (uint32_t)cdlen);
	put32(z, (uint32_t)cd);
	put16(z, 0);
}

static void test_zip_by_hand_baseline(void **state)
{
	const struct zmember m[] = {
		{ "x/__init__.py", "", 0, 0, 0, 0 },
		{ "x-1.dist-info/METADATA", "Metadata-Version: 2.1\nName: x\n", 0, 0, 0, 0 },
	};
	struct buf z;
	char *text = NULL;
	zip_by_hand(m, 2, &z);
	assert_int_equal(extract(z.p, z.len, "x-1-py3-none-any.whl", NULL, &text), ERR_OK);
	assert_string_equal(text, "Metadata-Version: 2.1\nName: x\n");
	xfree(text);
	buf_release(&z);
}

static void test_zip64_central_record(void **state)
{
	/* sizes and local header offset only in the zip64 extra field */
	const struct zmember m[] = {
		{ "x/__init__.py", "print()\n", 0, 0, 1, 0 },
		{ "x-1.dist-info/METADATA", "Metadata-Version: 2.1\nName: x\n", 0, 0, 1, 0 },
	};
	struct buf z;
	char *text = NULL;
	zip_by_hand(m, 2, &z);
	assert_int_equal(extract(z.p, z.len, "x-1-py3-none-any.whl", NULL, &text), ERR_OK);
	assert_string_equal(text, "Metadata-Version: 2.1\nName: x\n");
	xfree(text);
	text = NULL;
	buf_release(&z);
	/* a bomb's ratio declared in the zip64 extra is refused up front */
	const struct zmember bomb[] = {
		{ "x-1.dist-info/METADATA", "Metadata-Version: 2.1\nName: x\n", 0, 0, 1, 100u << 20 },
	};
	zip_by_hand(bomb, 1, &z);
	assert_int_equal(extract(z.p, z.len, "x-1-py3-none-any.whl", NULL, &text), ERR_TOOBIG);
	buf_release(&z);
	/* libarchive's writer with zip64 forced: zip64 end records */
	const struct member lm[] = { FILE_MEMBER("x-1.dist-info/METADATA", metadata_21) };
	build(ZIP64, lm, 1, &z);
	assert_non_null(memmem(z.p, z.len, "PK\6\6", 4));
	assert_int_equal(extract(z.p, z.len, "x-1-py3-none-any.whl", NULL, &text), ERR_OK);
	assert_string_equal(text, metadata_21);
	xfree(text);
	buf_release(&z);
}

static void test_zip_methods(void **state)
{
	char *text = NULL;
	struct buf z;
	/* PPMd (98), LZMA (14), bzip2 (12) for the metadata member: refused
	 * before libarchive picks a decoder */
	const uint16_t bad[] = { 98, 14, 12, 93, 95, 1 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const struct zmember m[] = { { "x-1.dist-info/METADATA", "M", bad[i], bad[i], 0, 0 } };
		zip_by_hand(m, 1, &z);
		assert_int_equal(extract(z.p, z.len, "x-1-py3-none-any.whl", NULL, &text), ERR_CORRUPT);
		buf_release(&z);
	}
	/* the local header disagreeing with the central directory */
	const struct zmember mismatch[] = { { "x-1.dist-info/METADATA", "M", 0, 98, 0, 0 } };
	zip_by_hand(mismatch, 1, &z);
	assert_int_equal(extract(z.p, z.len, "x-1-py3-none-any.whl", NULL, &text), ERR_CORRUPT);
	buf_release(&z);
	/* other members' methods do not matter: they are never decoded */
	const struct zmember other[] = {
		{ "x/data.bin", "zzzz", 98, 98, 0, 0 },
		{ "x-1.dist-info/METADATA", "Metadata-Version: 2.1\n", 0, 0, 0, 0 },
	};
	zip_by_hand(other, 2, &z);
	assert_int_equal(extract(z.p, z.len, "x-1-py3-none-any.whl", NULL, &text), ERR_OK);
	xfree(text);
	buf_release(&z);
}

static void test_zip_with_prepended_bytes(void **state)
{
	/* self-extractor style: offsets in the zip are relative to its start */
	struct buf f, z;
	char *text = NULL;
	read_file(FIXTURES "demo_pkg-1.0-py3-none-any.whl", &f);
	buf_init(&z, 0);
	for (int i = 0; i < 100; i++)
		buf_addc(&z, 'J');
	buf_add(&z, f.p, f.len);
	assert_int_equal(extract(z.p, z.len, "demo_pkg-1.0-py3-none-any.whl", NULL, &text), ERR_OK);
	assert_non_null(strstr(text, "Name: demo-pkg\n"));
	xfree(text);
	buf_release(&z);
	buf_release(&f);
}

/* ---- archives: hostile ---------------------------------------------------- */

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static long max_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void test_zip_bomb(void **state)
{
	/* METADATA of 50 MB of zeros deflates to ~50 KB */
	const struct member m[] = {
		FILE_MEMBER("bomb/__init__.py", ""),
		{ "bomb-1.dist-info/METADATA", NULL, 50u << 20, 1 },
	};
	struct buf z;
	char *text = NULL;
	build(ZIP, m, 2, &z);
	assert_true(z.len < (1u << 20));
	/* the central directory's sizes give a ratio of ~1000 */
	assert_int_equal(extract(z.p, z.len, "bomb-1-py3-none-any.whl", NULL, &text), ERR_TOOBIG);
	/* with the ratio bound lifted, the declared size is refused before reading */
	struct pkginfo_limits lim = { .max_ratio = 1u << 30 };
	assert_int_equal(extract(z.p, z.len, "bomb-1-py3-none-any.whl", &lim, &text), ERR_TOOBIG);
	buf_release(&z);
	/* and with the declared size lying (1000 bytes in the local header, the
	 * data descriptor and the central directory), reading stops at
	 * max_metadata */
	build(ZIP, m + 1, 1, &z);
	uint8_t *p = (uint8_t *)z.p;
	assert_memory_equal(p, "PK\3\4", 4);
	uint8_t *dd = memmem(p + 30, z.len - 30, "PK\7\10", 4);
	uint8_t *cen = memmem(p + 30, z.len - 30, "PK\1\2", 4);
	assert_non_null(dd);
	assert_non_null(cen);
	assert_true(dd < cen);
	le32(p + 22, 1000);
	le32(dd + 12, 1000);
	le32(cen + 24, 1000);
	struct pkginfo_mem mem;
	struct pkginfo_reader r;
	size_t len = 0;
	pkginfo_reader_mem(&r, z.p, z.len, &mem);
	long before = max_rss_kib();
	assert_int_equal(pkginfo_extract(&r, "bomb-1-py3-none-any.whl", &lim, &text, &len), ERR_TOOBIG);
	/* nothing close to 50 MB was allocated on the way (the peak RSS grew
	 * by far less; the margin covers sanitizer builds) */
	long grown = max_rss_kib() - before;
	lim.max_metadata = 8u << 20;
	pkginfo_reader_mem(&r, z.p, z.len, &mem);
	assert_int_equal(pkginfo_extract(&r, "bomb-1-py3-none-any.whl", &lim, &text, &len), ERR_TOOBIG);
	buf_release(&z);
	assert_true(grown < 20 * 1024);
}

static void test_zip_ratio_under_max_metadata(void **state)
{
	/* 900 KB of zeros: under max_metadata, but a ratio of ~1000 */
	const struct member m[] = { { "r-1.dist-info/METADATA", NULL, 900000, 1 } };
	struct buf z;
	char *text = NULL;
	build(ZIP, m, 1, &z);
	assert_int_equal(extract(z.p, z.len, "r-1-py3-none-any.whl", NULL, &text), ERR_TOOBIG);
	struct pkginfo_limits lim = { .max_ratio = 5000 };
	assert_int_equal(extract(z.p, z.len, "r-1-py3-none-any.whl", &lim, &text), ERR_OK);
	xfree(text);
	buf_release(&z);
}

static void test_tar_gz_stream_bomb(void **state)
{
	/* 40 MB of zeros in front of PKG-INFO: the gzip stream runs at ~1000:1 */
	const struct member m[] = {
		{ "demo-0.1/zeros.bin", NULL, 40u << 20, 1 },
		FILE_MEMBER("demo-0.1/PKG-INFO", pkg_info_11),
	};
	struct buf a;
	char *text = NULL;
	build(TAR_GZ, m, 2, &a);
	assert_true(a.len < (1u << 20));
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar.gz", NULL, &text), ERR_TOOBIG);
	struct pkginfo_limits lim = { .max_ratio = 100000 };
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar.gz", &lim, &text), ERR_OK);
	xfree(text);
	text = NULL;
	lim.max_stream = 8u << 20;
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar.gz", &lim, &text), ERR_TOOBIG);
	buf_release(&a);
	/* an uncompressed tar is skipped through, not bounded by the stream */
	build(TAR, m, 2, &a);
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar", &lim, &text), ERR_OK);
	xfree(text);
	buf_release(&a);
}

static void test_bzip2_bomb(void **state)
{
	/* 985 bytes: a tar.bz2 of 1 GiB of zeros followed by PKG-INFO.  A bzip2
	 * stream runs at ~10^6:1, so the bound must be checked while the zeros
	 * are walked, not once per chunk of compressed input. */
	struct buf f;
	char *text = NULL;
	read_file(FIXTURES "bomb-1g.tar.bz2", &f);
	assert_true(f.len < 2048);
	clock_t c = clock();
	assert_int_equal(extract(f.p, f.len, "demo-0.1.tar.bz2", NULL, &text), ERR_TOOBIG);
	/* decompressing the whole GiB takes seconds; stopping at the bound, ms */
	assert_true((double)(clock() - c) / CLOCKS_PER_SEC < 1.0);
	struct pkginfo_limits lim = { .max_ratio = 1u << 30, .max_stream = 64u << 20 };
	assert_int_equal(extract(f.p, f.len, "demo-0.1.tar.bz2", &lim, &text), ERR_TOOBIG);
	buf_release(&f);
}

static void test_metadata_too_big(void **state)
{
	const struct member m[] = { { "demo-0.1/PKG-INFO", NULL, 2000, 1 } };
	struct buf a;
	char *text = NULL;
	struct pkginfo_limits lim = { .max_metadata = 1999 };
	build(TAR_GZ, m, 1, &a);
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar.gz", &lim, &text), ERR_TOOBIG);
	lim.max_metadata = 2000;
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar.gz", &lim, &text), ERR_NOTFOUND); /* zeros, no header */
	buf_release(&a);
}

static void test_too_many_members(void **state)
{
	struct member m[60];
	char names[60][32];
	for (int i = 0; i < 60; i++) {
		snprintf(names[i], sizeof names[i], "demo/f%d.py", i);
		m[i] = (struct member){ names[i], "", 0, 0 };
		m[i].data = "x";
		m[i].len = 1;
	}
	m[59] = (struct member)FILE_MEMBER("demo-0.1.dist-info/METADATA", metadata_21);
	struct pkginfo_limits lim = { .max_entries = 50 };
	struct buf a;
	char *text = NULL;
	build(ZIP, m, 60, &a);
	assert_int_equal(extract(a.p, a.len, "demo-0.1-py3-none-any.whl", &lim, &text), ERR_TOOBIG);
	lim.max_entries = 60;
	assert_int_equal(extract(a.p, a.len, "demo-0.1-py3-none-any.whl", &lim, &text), ERR_OK);
	xfree(text);
	text = NULL;
	buf_release(&a);
	m[59] = (struct member)FILE_MEMBER("demo-0.1/PKG-INFO", pkg_info_11);
	build(TAR_GZ, m, 60, &a);
	lim.max_entries = 50;
	assert_int_equal(extract(a.p, a.len, "demo-0.1.tar.gz", &lim, &text), ERR_TOOBIG);
	buf_release(&a);
}

static void test_random_bytes(void **state)
{
	static const char *const names[] = { "x-1-py3-none-any.whl", "x-1.egg", "x-1.zip", "x-1.tar.gz",
					     "x-1.tar.bz2", "x-1.tar", "x-1.tgz" };
	uint8_t junk[4096];
	uint32_t s = 12345;
	for (size_t i = 0; i < sizeof junk; i++) {
		s = s * 1103515245 + 12345;
		junk[i] = (uint8_t)(s >> 16);
	}
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char *text = NULL;
		assert_int_equal(extract(junk, sizeof junk, names[i], NULL, &text), ERR_CORRUPT);
		assert_int_equal(extract(junk, 0, names[i], NULL, &text), ERR_CORRUPT);
		assert_int_equal(extract("PK\5\6", 4, names[i], NULL, &text), ERR_CORRUPT);
	}
}

static void test_truncated(void **state)
{
	struct buf f;
	char *text = NULL;
	read_file(FIXTURES "demo_pkg-1.0-py3-none-any.whl", &f);
	/* every proper prefix of the wheel loses (part of) its end record */
	for (size_t n = 1; n < f.len; n++)
		assert_int_equal(extract(f.p, n, "demo_pkg-1.0-py3-none-any.whl", NULL, &text), ERR_CORRUPT);
	buf_release(&f);
	/* a tar.gz cut anywhere is corrupt, unless PKG-INFO was already whole */
	read_file(FIXTURES "demo-pkg-1.0.tar.gz", &f);
	int ok = 0, corrupt = 0;
	for (size_t n = 1; n < f.len; n++) {
		int rc = extract(f.p, n, "demo-pkg-1.0.tar.gz", NULL, &text);
		assert_true(rc == ERR_OK || rc == ERR_CORRUPT);
		ok += rc == ERR_OK;
		corrupt += rc == ERR_CORRUPT;
		xfree(text);
		text = NULL;
	}
	assert_true(corrupt > 0);
	buf_release(&f);
}

static void test_bad_crc(void **state)
{
	struct buf f;
	char *text = NULL;
	read_file("tests/fuzz/corpus/fuzz_archive/broken-crc.whl", &f);
	assert_int_equal(extract(f.p, f.len, "demo_pkg-1.0-py3-none-any.whl", NULL, &text), ERR_CORRUPT);
	buf_release(&f);
}

static void test_bad_extension(void **state)
{
	static const char *const names[] = { "x.exe", "x.rpm", "x.msi", "x.bz2", "x.gz", ".whl", "x", "" };
	char *text = NULL;
	struct pkginfo_mem m;
	struct pkginfo_reader r;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_int_equal(extract("PK", 2, names[i], NULL, &text), ERR_INVAL);
	pkginfo_reader_mem(&r, "x", 1, &m);
	assert_int_equal(pkginfo_extract(&r, NULL, NULL, &text, NULL), ERR_INVAL);
	assert_int_equal(pkginfo_extract(NULL, "x.whl", NULL, &text, NULL), ERR_INVAL);
}

static ssize_t failing_read_at(void *arg, uint64_t off, void *buf, size_t n)
{
	const struct pkginfo_mem *m = arg;
	if (off + n > m->n / 2 && off > 0)
		return -1;
	size_t k = off < m->n ? (m->n - off < n ? m->n - off : n) : 0;
	memcpy(buf, m->p + off, k);
	return (ssize_t)k;
}

static void test_reader_error(void **state)
{
	const struct member m[] = {
		{ "demo-0.1/big.bin", NULL, 200000, 1 },
		FILE_MEMBER("demo-0.1/PKG-INFO", pkg_info_11),
	};
	struct buf a;
	char *text = NULL;
	struct pkginfo_mem mem;
	struct pkginfo_reader r;
	build(TAR, m, 2, &a);
	pkginfo_reader_mem(&r, a.p, a.len, &mem);
	r.read_at = failing_read_at;
	assert_int_equal(pkginfo_extract(&r, "demo-0.1.tar", NULL, &text, NULL), ERR_IO);
	assert_null(text);
	buf_release(&a);
	build(ZIP, m, 2, &a);
	pkginfo_reader_mem(&r, a.p, a.len, &mem);
	r.read_at = failing_read_at;
	assert_int_equal(pkginfo_extract(&r, "demo-0.1.zip", NULL, &text, NULL), ERR_IO);
	buf_release(&a);
}

/* ---- the parser ------------------------------------------------------------ */

static void test_parse_description_header(void **state)
{
	cJSON *o = parse("Metadata-Version: 1.0\n"
			 "Name: x\n"
			 "Description: first\n"
			 "        second\n"
			 "        \n"
			 "            indented\n"
			 "       |pipe form\n"
			 "\tkept tab\n"
			 "        \n"
			 "Keywords: a b\n");
	assert_string_equal(str(o, "description"), "first\nsecond\n\n    indented\npipe form\n\tkept tab");
	assert_string_equal(str(o, "keywords"), "a b");
	cJSON_Delete(o);
}

static void test_parse_body_description(void **state)
{
	/* the body wins over the header, and is kept verbatim */
	cJSON *o = parse("Name: x\nDescription: from the header\n\n  body line 1\n\nbody: line 2\n");
	assert_string_equal(str(o, "description"), "  body line 1\n\nbody: line 2\n");
	assert_int_equal(cJSON_GetArraySize(o), 2);
	cJSON_Delete(o);
	/* no body: the header stays */
	o = parse("Name: x\nDescription: from the header\n\n");
	assert_string_equal(str(o, "description"), "from the header");
	cJSON_Delete(o);
}

static void test_parse_lists(void **state)
{
	cJSON *o = parse("Classifier: A :: B\n"
			 "Requires-Dist: foo>=1\n"
			 "classifier: C :: D\n"
			 "Requires-Dist: bar; python_version<'3.8'\n"
			 "Classifier: UNKNOWN\n"
			 "Classifier:\n"
			 "Project-URL: Home, https://x.org\n"
			 "Provides-Extra: test\n"
			 "Dynamic: Requires-Dist\n"
			 "License-File: LICENSE\n"
			 "License-File: NOTICE\n"
			 "Supported-Platform: linux\n"
			 "Requires-External: libfoo\n"
			 "Provides-Dist: x\n"
			 "Obsoletes-Dist: y\n"
			 "Provides: p\nRequires: r\nObsoletes: o\n");
	const cJSON *c = arr(o, "classifiers", 2);
	assert_string_equal(cJSON_GetArrayItem(c, 0)->valuestring, "A :: B");
	assert_string_equal(cJSON_GetArrayItem(c, 1)->valuestring, "C :: D");
	c = arr(o, "requires_dist", 2);
	assert_string_equal(cJSON_GetArrayItem(c, 1)->valuestring, "bar; python_version<'3.8'");
	assert_string_equal(cJSON_GetArrayItem(arr(o, "project_urls", 1), 0)->valuestring, "Home, https://x.org");
	arr(o, "provides_extras", 1);
	arr(o, "dynamic", 1);
	arr(o, "license_file", 2);
	arr(o, "supported_platform", 1);
	arr(o, "requires_external", 1);
	arr(o, "provides_dist", 1);
	arr(o, "obsoletes_dist", 1);
	arr(o, "provides", 1);
	arr(o, "requires", 1);
	arr(o, "obsoletes", 1);
	assert_int_equal(cJSON_GetArraySize(o), 13);
	cJSON_Delete(o);
}

static void test_parse_scalars(void **state)
{
	cJSON *o = parse("metadata-version: 2.4\n"
			 "NAME: first\n"
			 "Name: second\n"
			 "Version:1.0 \n"
			 "Summary: UNKNOWN\n"
			 "Home-Page: UNKNOWN\n"
			 "Author: Someone\n"
			 "  Else\n"
			 "Author-Email: a@b\n"
			 "Maintainer: m\n"
			 "Maintainer-email: m@b\n"
			 "License: UNKNOWN license\n"
			 "Download-URL: https://d\n"
			 "Requires-Python: >=3\n"
			 "Description-Content-Type: text/x-rst\n"
			 "License-Expression: MIT\n"
			 "X-Unknown: ignored\n"
			 "Platform: any\n");
	assert_string_equal(str(o, "metadata_version"), "2.4");
	assert_string_equal(str(o, "name"), "first");
	assert_string_equal(str(o, "version"), "1.0");
	assert_string_equal(str(o, "summary"), "");
	assert_string_equal(str(o, "home_page"), "");
	assert_string_equal(str(o, "author"), "Someone Else");
	assert_string_equal(str(o, "author_email"), "a@b");
	assert_string_equal(str(o, "maintainer"), "m");
	assert_string_equal(str(o, "maintainer_email"), "m@b");
	assert_string_equal(str(o, "license"), "UNKNOWN license");
	assert_string_equal(str(o, "download_url"), "https://d");
	assert_string_equal(str(o, "requires_python"), ">=3");
	assert_string_equal(str(o, "description_content_type"), "text/x-rst");
	assert_string_equal(str(o, "license_expression"), "MIT");
	assert_string_equal(cJSON_GetArrayItem(arr(o, "platform", 1), 0)->valuestring, "any");
	assert_int_equal(cJSON_GetArraySize(o), 15);
	cJSON_Delete(o);
}

static void test_parse_line_endings_and_body_start(void **state)
{
	cJSON *o = parse("Name: a\r\nSummary: s\r\n  more\r\n\r\nbody\r\n");
	assert_string_equal(str(o, "name"), "a");
	assert_string_equal(str(o, "summary"), "s more");
	assert_string_equal(str(o, "description"), "body\r\n");
	cJSON_Delete(o);
	o = parse("Name: a\rVersion: 1\r\rbody");
	assert_string_equal(str(o, "version"), "1");
	assert_string_equal(str(o, "description"), "body");
	cJSON_Delete(o);
	/* a line that is not a header ends the headers, as in Python's parser */
	o = parse("Name: a\nthis is not a header\nVersion: 1\n");
	assert_string_equal(str(o, "name"), "a");
	assert_null(cJSON_GetObjectItem(o, "version"));
	assert_string_equal(str(o, "description"), "this is not a header\nVersion: 1\n");
	cJSON_Delete(o);
	o = parse("Name : spaced\n");
	assert_null(cJSON_GetObjectItem(o, "name"));
	assert_string_equal(str(o, "description"), "Name : spaced\n");
	cJSON_Delete(o);
	/* a continuation before any header is dropped */
	o = parse("  orphan\nName: a");
	assert_string_equal(str(o, "name"), "a");
	assert_int_equal(cJSON_GetArraySize(o), 1);
	cJSON_Delete(o);
}

static void test_parse_encodings(void **state)
{
	cJSON *o = NULL;
	/* not UTF-8: read as Latin-1 */
	static const char latin1[] = "Author: Jos\xe9\nSummary: caf\xe9 \xa9\n";
	assert_int_equal(pkginfo_parse(latin1, sizeof latin1 - 1, &o), ERR_OK);
	assert_string_equal(str(o, "author"), "Jos\xc3\xa9");
	assert_string_equal(str(o, "summary"), "caf\xc3\xa9 \xc2\xa9");
	cJSON_Delete(o);
	/* valid UTF-8 is kept */
	o = parse("Author: Jos\xc3\xa9 \xe2\x82\xac\n");
	assert_string_equal(str(o, "author"), "Jos\xc3\xa9 \xe2\x82\xac");
	cJSON_Delete(o);
	/* NUL bytes become U+FFFD instead of cutting the string */
	static const char nul[] = "Name: a\0b\n\nx\0y";
	assert_int_equal(pkginfo_parse(nul, sizeof nul - 1, &o), ERR_OK);
	assert_string_equal(str(o, "name"), "a\xef\xbf\xbd" "b");
	assert_string_equal(str(o, "description"), "x\xef\xbf\xbdy");
	cJSON_Delete(o);
}

static void test_parse_empty_and_bounds(void **state)
{
	cJSON *o = NULL;
	assert_int_equal(pkginfo_parse("", 0, &o), ERR_OK);
	assert_int_equal(cJSON_GetArraySize(o), 0);
	cJSON_Delete(o);
	o = parse("\n\n");
	assert_string_equal(str(o, "description"), "\n");
	cJSON_Delete(o);
	o = parse("Summary:\n");
	assert_string_equal(str(o, "summary"), "");
	cJSON_Delete(o);
	assert_int_equal(pkginfo_parse(NULL, 0, &o), ERR_INVAL);
	char *big = xcalloc(1, PKGINFO_PARSE_MAX + 1);
	assert_int_equal(pkginfo_parse(big, PKGINFO_PARSE_MAX + 1, &o), ERR_TOOBIG);
	assert_null(o);
	xfree(big);
}

static void test_parse_many_lines(void **state)
{
	struct buf b;
	cJSON *o = NULL;
	buf_init(&b, 0);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(buf_addf(&b, "Classifier: Topic :: %d\n", i), ERR_OK);
	assert_int_equal(pkginfo_parse(b.p, b.len, &o), ERR_OK);
	const cJSON *c = arr(o, "classifiers", 20000);
	assert_string_equal(cJSON_GetArrayItem(c, 19999)->valuestring, "Topic :: 19999");
	cJSON_Delete(o);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_wheel),
		cmocka_unit_test(test_fixture_sdist),
		cmocka_unit_test(test_built_wheel),
		cmocka_unit_test(test_built_sdists),
		cmocka_unit_test(test_egg),
		cmocka_unit_test(test_dot_slash_and_flat_sdist),
		cmocka_unit_test(test_sdist_deeper_fallback),
		cmocka_unit_test(test_wheel_without_dist_info),
		cmocka_unit_test(test_nested_dist_info_ignored),
		cmocka_unit_test(test_sdist_without_pkg_info),
		cmocka_unit_test(test_zip_by_hand_baseline),
		cmocka_unit_test(test_zip64_central_record),
		cmocka_unit_test(test_zip_methods),
		cmocka_unit_test(test_zip_with_prepended_bytes),
		cmocka_unit_test(test_zip_bomb),
		cmocka_unit_test(test_zip_ratio_under_max_metadata),
		cmocka_unit_test(test_tar_gz_stream_bomb),
		cmocka_unit_test(test_bzip2_bomb),
		cmocka_unit_test(test_metadata_too_big),
		cmocka_unit_test(test_too_many_members),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_crc),
		cmocka_unit_test(test_bad_extension),
		cmocka_unit_test(test_reader_error),
		cmocka_unit_test(test_parse_description_header),
		cmocka_unit_test(test_parse_body_description),
		cmocka_unit_test(test_parse_lists),
		cmocka_unit_test(test_parse_scalars),
		cmocka_unit_test(test_parse_line_endings_and_body_start),
		cmocka_unit_test(test_parse_encodings),
		cmocka_unit_test(test_parse_empty_and_bounds),
		cmocka_unit_test(test_parse_many_lines),
	};
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
