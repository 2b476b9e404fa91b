// lazyfs.c -- a FUSE passthrough that models a volatile page cache.
//
// Every operation is applied at once to the backing directory (the "page
// cache" view that running processes see).  Beside it the daemon keeps an
// UNDO model of what is *durable*:
//   * per inode: the size at the last fsync/fdatasync (dsize) and the durable
//     bytes of every 4 KiB block below dsize overwritten (write, truncate,
//     fallocate punch/zero) since then;
//   * per directory: its entry list (name -> inode) as of the last fsync of
//     that directory, captured lazily at the first create / unlink / rename /
//     link / mkdir / rmdir / symlink in it since.
// fsync or fdatasync of a file drops its undo (data + size durable).  fsync of
// a directory drops its entry undo.  With --ext4 an fsync/fdatasync of any
// file also makes every namespace operation so far durable (journal commit).
//
// "powerloss [p seed]" written to the control FIFO rolls the backing tree back
// to the durable state (with p > 0 each file's / directory's pending state is
// instead kept with probability p, partially for file data: a random page-
// aligned prefix of appended data and a random subset of overwritten blocks --
// some writeback happened before the cut).  After it the fs must be unmounted
// and mounted again (kernel caches), the daemon refuses further operations.
//
// Usage: lazyfs BASE MOUNTPOINT [--ext4] [fuse options]
//   BASE/data   backing tree (mount root), BASE/lazy  hidden links / work,
//   BASE/ctl    control FIFO, BASE/ctl.out  reply of the last command.
#define FUSE_USE_VERSION 35
#define _GNU_SOURCE
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/statvfs.h>
#include <sys/file.h>
#include <linux/falloc.h>
#include <ftw.h>

#define BS 4096
#define NB 65536

static char B[4096], L[4096], CTL[4096], CTLOUT[4096], LOGP[4096];
static int ext4_mode = 0;
static int dead = 0; // after powerloss
static pthread_mutex_t G = PTHREAD_MUTEX_INITIALIZER;
static FILE *logf_ = NULL;
static unsigned long long n_fsync = 0, n_fsyncdir = 0, n_write = 0, n_saved = 0;

static void lg(const char *fmt, ...) {
    if (!logf_) return;
    va_list ap; va_start(ap, fmt); vfprintf(logf_, fmt, ap); va_end(ap);
    fputc('\n', logf_); fflush(logf_);
}

// ---------- per-inode data undo ----------
struct blk { uint64_t idx; uint32_t len; char *data; struct blk *next; };
struct fst {
    ino_t ino; off_t dsize; struct blk **bl; size_t nbl; struct fst *next; off_t hole_a, hole_b;
};
static struct fst *FT[NB];

static struct fst *fst_find(ino_t ino) {
    for (struct fst *s = FT[ino % NB]; s; s = s->next) if (s->ino == ino) return s;
    return NULL;
}
static struct fst *fst_get(ino_t ino, off_t cursize) {
    struct fst *s = fst_find(ino);
    if (s) return s;
    s = calloc(1, sizeof *s); s->ino = ino; s->dsize = cursize;
    s->nbl = 64; s->bl = calloc(s->nbl, sizeof *s->bl);
    s->next = FT[ino % NB]; FT[ino % NB] = s;
    return s;
}
static void fst_free(struct fst *s) {
    for (size_t i = 0; i < s->nbl; i++) {
        struct blk *b = s->bl[i];
        while (b) { struct blk *n = b->next; free(b->data); free(b); b = n; }
    }
    free(s->bl); free(s);
}
static void fst_drop(ino_t ino) {
    struct fst **pp = &FT[ino % NB];
    while (*pp) {
        if ((*pp)->ino == ino) { struct fst *s = *pp; *pp = s->next; fst_free(s); return; }
        pp = &(*pp)->next;
    }
}
static struct blk *blk_find(struct fst *s, uint64_t idx) {
    for (struct blk *b = s->bl[idx % s->nbl]; b; b = b->next) if (b->idx == idx) return b;
    return NULL;
}
// Save the durable bytes of the blocks of [off, off+len) below dsize.
// rfd must be readable and show the file's content as it is before the change.
static int save_range(struct fst *s, int rfd, off_t off, off_t len) {
    if (len <= 0) return 0;
    uint64_t first = off / BS, last = (off + len - 1) / BS;
    for (uint64_t i = first; i <= last; i++) {
        off_t bo = (off_t)i * BS;
        if (bo >= s->dsize) break;
        if (blk_find(s, i)) continue;
        uint32_t bl = (s->dsize - bo) < BS ? (uint32_t)(s->dsize - bo) : BS;
        struct blk *b = calloc(1, sizeof *b);
        b->idx = i; b->len = bl; b->data = calloc(1, bl);
        ssize_t r = pread(rfd, b->data, bl, bo);
        if (r < 0) { int e = errno; free(b->data); free(b); lg("save_range pread errno %d", e); return -e; }
        // short read: the rest is zero (cannot happen by the invariant, logged)
        if (r < (ssize_t)bl) lg("save_range short read ino %lu blk %lu %zd<%u", (unsigned long)s->ino, (unsigned long)i, r, bl);
        b->next = s->bl[i % s->nbl]; s->bl[i % s->nbl] = b;
        n_saved++;
    }
    return 0;
}
static int reopen_ro(int fd) {
    char p[64]; snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    return open(p, O_RDONLY);
}

// ---------- hidden links (keep durably named inodes reachable) ----------
struct ln { ino_t ino; struct ln *next; };
static struct ln *LT[NB];
static int linked(ino_t ino) {
    for (struct ln *l = LT[ino % NB]; l; l = l->next) if (l->ino == ino) return 1;
    return 0;
}
static void ensure_link(ino_t ino, const char *bpath) {
    if (linked(ino)) return;
    char p[4200]; snprintf(p, sizeof p, "%s/ino/%lu", L, (unsigned long)ino);
    if (link(bpath, p) != 0 && errno != EEXIST) { lg("ensure_link %s: errno %d", bpath, errno); return; }
    struct ln *l = malloc(sizeof *l); l->ino = ino; l->next = LT[ino % NB]; LT[ino % NB] = l;
}

// ---------- per-directory entry undo ----------
struct ent { char *name; ino_t ino; mode_t type; };
struct dst { ino_t ino; struct ent *e; int n; struct dst *next; };
static struct dst *DT[NB];
static struct dst *dst_find(ino_t ino) {
    for (struct dst *d = DT[ino % NB]; d; d = d->next) if (d->ino == ino) return d;
    return NULL;
}
static void dst_free(struct dst *d) {
    for (int i = 0; i < d->n; i++) free(d->e[i].name);
    free(d->e); free(d);
}
static void dst_drop(ino_t ino) {
    struct dst **pp = &DT[ino % NB];
    while (*pp) {
        if ((*pp)->ino == ino) { struct dst *d = *pp; *pp = d->next; dst_free(d); return; }
        pp = &(*pp)->next;
    }
}
static void dst_drop_all(void) {
    for (int i = 0; i < NB; i++) { while (DT[i]) { struct dst *d = DT[i]; DT[i] = d->next; dst_free(d); } }
}
// list a backing directory: entries with inode and type (lstat)
static int list_dir(const char *bdir, struct ent **out, int *nout) {
    DIR *dp = opendir(bdir);
    if (!dp) return -errno;
    int cap = 16, n = 0; struct ent *e = malloc(cap * sizeof *e);
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[8400]; snprintf(p, sizeof p, "%s/%s", bdir, de->d_name);
        struct stat st; if (lstat(p, &st) != 0) continue;
        if (n == cap) { cap *= 2; e = realloc(e, cap * sizeof *e); }
        e[n].name = strdup(de->d_name); e[n].ino = st.st_ino; e[n].type = st.st_mode & S_IFMT; n++;
    }
    closedir(dp);
    *out = e; *nout = n; return 0;
}
static void bpath(char *out, const char *path) { snprintf(out, 8192, "%s%s", B, path); }
static void parent_of(char *out, const char *bp) {
    strcpy(out, bp); char *s = strrchr(out, '/'); if (s && s != out) *s = 0; else strcpy(out, "/");
}
// capture the durable entry list of the directory containing bp (a backing path)
static void capture_parent(const char *bp) {
    char dir[8192]; parent_of(dir, bp);
    struct stat st; if (lstat(dir, &st) != 0) return;
    if (dst_find(st.st_ino)) return;
    struct dst *d = calloc(1, sizeof *d); d->ino = st.st_ino;
    if (list_dir(dir, &d->e, &d->n) != 0) { free(d); return; }
    for (int i = 0; i < d->n; i++) if (d->e[i].type == S_IFREG) {
        char p[8400]; snprintf(p, sizeof p, "%s/%s", dir, d->e[i].name);
        ensure_link(d->e[i].ino, p);
    }
    d->next = DT[st.st_ino % NB]; DT[st.st_ino % NB] = d;
}
// an inode about to lose a name: if it is its last name and no hidden link
// keeps it, its undo state dies with it (the inode number may be reused)
static void maybe_forget(const char *bp, ino_t *forget) {
    struct stat st; *forget = 0;
    if (lstat(bp, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && !linked(st.st_ino)) *forget = st.st_ino;
}

#define LOCK() pthread_mutex_lock(&G); if (dead) { pthread_mutex_unlock(&G); return -EIO; }
#define UNLOCK() pthread_mutex_unlock(&G)

static void *lz_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn; cfg->use_ino = 1; cfg->direct_io = 0; cfg->kernel_cache = 0;
    cfg->nullpath_ok = 0; cfg->hard_remove = 1;
    return NULL;
}
static int lz_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    LOCK(); int r;
    if (fi) r = fstat(fi->fh, st); else { char p[8192]; bpath(p, path); r = lstat(p, st); }
    if (r != 0) { r = -errno; UNLOCK(); return r; }
    if (S_ISREG(st->st_mode) && linked(st->st_ino) && st->st_nlink > 0) st->st_nlink--;
    UNLOCK(); return 0;
}
static int lz_access(const char *path, int mask) {
    LOCK(); char p[8192]; bpath(p, path); int r = access(p, mask) ? -errno : 0; UNLOCK(); return r;
}
static int lz_readlink(const char *path, char *buf, size_t sz) {
    LOCK(); char p[8192]; bpath(p, path); ssize_t r = readlink(p, buf, sz - 1);
    if (r < 0) { r = -errno; UNLOCK(); return r; } buf[r] = 0; UNLOCK(); return 0;
}
static int lz_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi, enum fuse_readdir_flags fl) {
    (void)off; (void)fi; (void)fl;
    LOCK(); char p[8192]; bpath(p, path);
    DIR *dp = opendir(p); if (!dp) { int e = -errno; UNLOCK(); return e; }
    struct dirent *de;
    while ((de = readdir(dp))) {
        struct stat st; memset(&st, 0, sizeof st); st.st_ino = de->d_ino; st.st_mode = de->d_type << 12;
        if (fill(buf, de->d_name, &st, 0, 0)) break;
    }
    closedir(dp); UNLOCK(); return 0;
}
static int do_truncate(int fd, off_t size) {
    struct stat st; if (fstat(fd, &st) != 0) return -errno;
    struct fst *s = fst_get(st.st_ino, st.st_size);
    if (size < st.st_size) {
        int rfd = reopen_ro(fd); if (rfd < 0) return -errno;
        int r = save_range(s, rfd, size, st.st_size - size); close(rfd);
        if (r) return r;
    }
    return ftruncate(fd, size) ? -errno : 0;
}
static int lz_open(const char *path, struct fuse_file_info *fi) {
    LOCK(); char p[8192]; bpath(p, path);
    int fl = fi->flags & ~(O_TRUNC | O_APPEND | O_CREAT | O_EXCL);
    int fd = open(p, fl);
    if (fd < 0) { int e = -errno; UNLOCK(); return e; }
    if (fi->flags & O_TRUNC) { int r = do_truncate(fd, 0); if (r) { close(fd); UNLOCK(); return r; } }
    fi->fh = fd; UNLOCK(); return 0;
}
static int lz_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    LOCK(); char p[8192]; bpath(p, path);
    struct stat st; int existed = lstat(p, &st) == 0;
    if (existed && (fi->flags & O_EXCL)) { UNLOCK(); return -EEXIST; }
    if (!existed) capture_parent(p);
    int fl = (fi->flags & ~(O_TRUNC | O_APPEND | O_EXCL)) | O_CREAT;
    int fd = open(p, fl, mode);
    if (fd < 0) { int e = -errno; UNLOCK(); return e; }
    if (!existed) { if (fstat(fd, &st) == 0) { fst_drop(st.st_ino); fst_get(st.st_ino, 0); } }
    else if (fi->flags & O_TRUNC) { int r = do_truncate(fd, 0); if (r) { close(fd); UNLOCK(); return r; } }
    fi->fh = fd; UNLOCK(); return 0;
}
static int lz_read(const char *path, char *buf, size_t sz, off_t off, struct fuse_file_info *fi) {
    (void)path; LOCK(); ssize_t r = pread(fi->fh, buf, sz, off); if (r < 0) r = -errno; UNLOCK(); return r;
}
static int lz_write(const char *path, const char *buf, size_t sz, off_t off, struct fuse_file_info *fi) {
    (void)path; LOCK();
    struct stat st; if (fstat(fi->fh, &st) != 0) { int e = -errno; UNLOCK(); return e; }
    struct fst *s = fst_get(st.st_ino, st.st_size);
    if (off < s->dsize) {
        int rfd = reopen_ro(fi->fh); if (rfd < 0) { int e = -errno; UNLOCK(); return e; }
        int r = save_range(s, rfd, off, sz); close(rfd);
        if (r) { UNLOCK(); return r; }
    }
    ssize_t w = pwrite(fi->fh, buf, sz, off); if (w < 0) w = -errno;
    n_write++;
    UNLOCK(); return w;
}
static int lz_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    LOCK(); int r;
    if (fi) r = do_truncate(fi->fh, size);
    else { char p[8192]; bpath(p, path); int fd = open(p, O_WRONLY); if (fd < 0) { r = -errno; } else { r = do_truncate(fd, size); close(fd); } }
    UNLOCK(); return r;
}
static int lz_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi) {
    (void)path; LOCK();
    int fd = fi->fh; struct stat st; if (fstat(fd, &st) != 0) { int e = -errno; UNLOCK(); return e; }
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) { UNLOCK(); return -EOPNOTSUPP; }
    struct fst *s = fst_get(st.st_ino, st.st_size);
    if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
        int rfd = reopen_ro(fd); if (rfd < 0) { int e = -errno; UNLOCK(); return e; }
        int r = save_range(s, rfd, off, len); close(rfd); if (r) { UNLOCK(); return r; }
    }
    int r = fallocate(fd, mode, off, len) ? -errno : 0;
    lg("fallocate ino %lu mode %d off %ld len %ld -> %d", (unsigned long)st.st_ino, mode, (long)off, (long)len, r);
    UNLOCK(); return r;
}
static int lz_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)path; (void)datasync; LOCK();
    struct stat st; if (fstat(fi->fh, &st) != 0) { int e = -errno; UNLOCK(); return e; }
    fst_drop(st.st_ino);
    if (ext4_mode) dst_drop_all();
    n_fsync++;
    UNLOCK(); return 0;
}
static int lz_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)datasync; (void)fi; LOCK();
    char p[8192]; bpath(p, path); struct stat st;
    if (lstat(p, &st) != 0) { int e = -errno; UNLOCK(); return e; }
    dst_drop(st.st_ino);
    if (ext4_mode) dst_drop_all();
    n_fsyncdir++;
    UNLOCK(); return 0;
}
static int lz_release(const char *path, struct fuse_file_info *fi) {
    (void)path; LOCK();
    struct stat st; if (fstat(fi->fh, &st) == 0 && st.st_nlink == 0) fst_drop(st.st_ino);
    close(fi->fh); UNLOCK(); return 0;
}
static int lz_flush(const char *path, struct fuse_file_info *fi) { (void)path; (void)fi; return 0; }
static int lz_mkdir(const char *path, mode_t mode) {
    LOCK(); char p[8192]; bpath(p, path); capture_parent(p);
    int r = mkdir(p, mode) ? -errno : 0; UNLOCK(); return r;
}
static int lz_rmdir(const char *path) {
    LOCK(); char p[8192]; bpath(p, path);
    struct stat st; if (lstat(p, &st) != 0) { int e = -errno; UNLOCK(); return e; }
    if (!S_ISDIR(st.st_mode)) { UNLOCK(); return -ENOTDIR; }
    DIR *dp = opendir(p); if (!dp) { int e = -errno; UNLOCK(); return e; }
    struct dirent *de; int nonempty = 0;
    while ((de = readdir(dp))) if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) { nonempty = 1; break; }
    closedir(dp);
    if (nonempty) { UNLOCK(); return -ENOTEMPTY; }
    capture_parent(p);
    char q[4200]; snprintf(q, sizeof q, "%s/dirs/%lu", L, (unsigned long)st.st_ino);
    int r = rename(p, q) ? -errno : 0; UNLOCK(); return r;
}
static int lz_unlink(const char *path) {
    LOCK(); char p[8192]; bpath(p, path); capture_parent(p);
    ino_t f; maybe_forget(p, &f);
    int r = unlink(p) ? -errno : 0;
    if (!r && f) fst_drop(f);
    UNLOCK(); return r;
}
static int lz_symlink(const char *target, const char *path) {
    LOCK(); char p[8192]; bpath(p, path); capture_parent(p);
    int r = symlink(target, p) ? -errno : 0; UNLOCK(); return r;
}
static int lz_link(const char *from, const char *to) {
    LOCK(); char p[8192], q[8192]; bpath(p, from); bpath(q, to); capture_parent(q);
    int r = link(p, q) ? -errno : 0; UNLOCK(); return r;
}
static int lz_rename(const char *from, const char *to, unsigned int flags) {
    LOCK(); char p[8192], q[8192]; bpath(p, from); bpath(q, to);
    capture_parent(p); capture_parent(q);
    ino_t f = 0;
    if (!(flags & RENAME_EXCHANGE)) {
        struct stat st;
        if (lstat(q, &st) == 0) {
            if (flags & RENAME_NOREPLACE) { UNLOCK(); return -EEXIST; }
            if (S_ISDIR(st.st_mode)) {
                // replacing an (empty) directory: park it instead of destroying it
                struct stat sp; if (lstat(p, &sp) != 0) { int e = -errno; UNLOCK(); return e; }
                if (!S_ISDIR(sp.st_mode)) { UNLOCK(); return -EISDIR; }
                DIR *dp = opendir(q); struct dirent *de; int ne = 0;
                while (dp && (de = readdir(dp))) if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) { ne = 1; break; }
                if (dp) closedir(dp);
                if (ne) { UNLOCK(); return -ENOTEMPTY; }
                char d[4200]; snprintf(d, sizeof d, "%s/dirs/%lu", L, (unsigned long)st.st_ino);
                if (rename(q, d) != 0) { int e = -errno; UNLOCK(); return e; }
            } else maybe_forget(q, &f);
        }
    }
    int r = renameat2(AT_FDCWD, p, AT_FDCWD, q, flags) ? -errno : 0;
    if (!r && f) fst_drop(f);
    UNLOCK(); return r;
}
static int lz_chmod(const char *path, mode_t m, struct fuse_file_info *fi) {
    LOCK(); int r; if (fi) r = fchmod(fi->fh, m); else { char p[8192]; bpath(p, path); r = chmod(p, m); }
    r = r ? -errno : 0; UNLOCK(); return r;
}
static int lz_chown(const char *path, uid_t u, gid_t g, struct fuse_file_info *fi) {
    LOCK(); int r; if (fi) r = fchown(fi->fh, u, g); else { char p[8192]; bpath(p, path); r = lchown(p, u, g); }
    r = r ? -errno : 0; UNLOCK(); return r;
}
static int lz_utimens(const char *path, const struct timespec ts[2], struct fuse_file_info *fi) {
    LOCK(); int r; if (fi) r = futimens(fi->fh, ts); else { char p[8192]; bpath(p, path); r = utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW); }
    r = r ? -errno : 0; UNLOCK(); return r;
}
static int lz_statfs(const char *path, struct statvfs *sv) {
    (void)path; LOCK(); int r = statvfs(B, sv) ? -errno : 0; UNLOCK(); return r;
}
static off_t lz_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi) {
    (void)path; LOCK(); off_t r = lseek(fi->fh, off, whence); if (r < 0) r = -errno; UNLOCK(); return r;
}

// ---------- power loss ----------
struct im { ino_t ino; char *path; mode_t type; struct im *next; };
static struct im *IM[NB];
static void im_put(ino_t ino, const char *p, mode_t t) {
    for (struct im *m = IM[ino % NB]; m; m = m->next) if (m->ino == ino) return;
    struct im *m = malloc(sizeof *m); m->ino = ino; m->path = strdup(p); m->type = t; m->next = IM[ino % NB]; IM[ino % NB] = m;
}
static struct im *im_get(ino_t ino) {
    for (struct im *m = IM[ino % NB]; m; m = m->next) if (m->ino == ino) return m;
    return NULL;
}
static void scan(const char *dir) {
    struct ent *e; int n; if (list_dir(dir, &e, &n)) return;
    for (int i = 0; i < n; i++) {
        char p[8400]; snprintf(p, sizeof p, "%s/%s", dir, e[i].name);
        im_put(e[i].ino, p, e[i].type);
        if (e[i].type == S_IFDIR) scan(p);
        free(e[i].name);
    }
    free(e);
}
struct vis { ino_t ino; struct vis *next; };
static struct vis *VS[NB];
static int visited(ino_t ino) {
    for (struct vis *v = VS[ino % NB]; v; v = v->next) if (v->ino == ino) return 1;
    struct vis *v = malloc(sizeof *v); v->ino = ino; v->next = VS[ino % NB]; VS[ino % NB] = v; return 0;
}
static long n_files_out = 0, n_dirs_out = 0, n_missing = 0;
static void build(ino_t dino, const char *livepath, const char *dst) {
    struct dst *d = dst_find(dino);
    struct ent *e; int n, own = 0;
    if (d) { e = d->e; n = d->n; } else { if (list_dir(livepath, &e, &n)) { lg("build: cannot list %s", livepath); return; } own = 1; }
    for (int i = 0; i < n; i++) {
        char q[8400]; snprintf(q, sizeof q, "%s/%s", dst, e[i].name);
        struct im *m = im_get(e[i].ino);
        if (!m) { lg("build: inode %lu (%s) not found", (unsigned long)e[i].ino, q); n_missing++; continue; }
        if (e[i].type == S_IFDIR) {
            if (visited(e[i].ino)) { lg("build: dir inode %lu twice (%s)", (unsigned long)e[i].ino, q); continue; }
            struct stat st; lstat(m->path, &st);
            mkdir(q, st.st_mode & 07777); n_dirs_out++;
            build(e[i].ino, m->path, q);
        } else if (e[i].type == S_IFREG) {
            if (link(m->path, q) != 0) lg("build: link %s -> %s errno %d", m->path, q, errno); else n_files_out++;
        } else if (e[i].type == S_IFLNK) {
            char t[4096]; ssize_t r = readlink(m->path, t, sizeof t - 1); if (r >= 0) { t[r] = 0; if (symlink(t, q)) lg("symlink err"); }
        }
    }
    if (own) { for (int i = 0; i < n; i++) free(e[i].name); free(e); }
}
static int rm_cb(const char *p, const struct stat *sb, int f, struct FTW *fb) { (void)sb; (void)f; (void)fb; return remove(p); }
static unsigned long long rng;
static double rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (rng >> 11) * (1.0 / 9007199254740992.0); }

static void powerloss(double p, unsigned long long seed, int holes, char *out, size_t outsz) {
    rng = seed * 2654435761ULL + 88172645463325252ULL;
    long files_rolled = 0, bytes_dropped = 0, blocks_restored = 0, dirs_rolled = 0, kept = 0, holes_made = 0;
    // 1. map every reachable inode to a path
    memset(IM, 0, sizeof IM); memset(VS, 0, sizeof VS);
    struct stat rs; lstat(B, &rs); im_put(rs.st_ino, B, S_IFDIR);
    scan(B);
    char p2[4200];
    snprintf(p2, sizeof p2, "%s/ino", L); scan(p2);
    snprintf(p2, sizeof p2, "%s/dirs", L); scan(p2);
    // 2. partial writeback (p > 0): some pending state is kept
    if (p > 0) {
        for (int i = 0; i < NB; i++) for (struct fst **pp = &FT[i]; *pp;) {
            struct fst *s = *pp;
            if (rnd() < p) {
                kept++;
                struct im *m = im_get(s->ino); struct stat st;
                if (m && lstat(m->path, &st) == 0 && st.st_size > s->dsize) {
                    if (holes == 2 && !strstr(m ? m->path : "", "/raft/")) {
                        // holes only in Raft log files: the rest as plain partial
                        off_t extra = (off_t)(rnd() * (double)(st.st_size - s->dsize)); extra -= extra % BS;
                        s->dsize += extra;
                    } else if (holes) {
                        // the size and the later pages reached the disk, a run of
                        // earlier appended pages did not (they read as zeros)
                        off_t lo = (s->dsize + BS - 1) / BS * BS, span = st.st_size - lo;
                        if (span > 0) {
                            off_t a = lo + (off_t)(rnd() * (double)span); a -= a % BS;
                            off_t b = a + BS * (1 + (off_t)(rnd() * 4));
                            if (b > st.st_size) b = st.st_size;
                            if (b < st.st_size) { s->hole_a = a; s->hole_b = b; s->dsize = st.st_size; }
                        }
                    } else {
                        off_t extra = (off_t)(rnd() * (double)(st.st_size - s->dsize)); extra -= extra % BS;
                        s->dsize += extra; // a prefix of the appended pages reached the disk
                    }
                }
                for (size_t j = 0; j < s->nbl; j++) for (struct blk **bb = &s->bl[j]; *bb;) {
                    if (rnd() < 0.5) { struct blk *b = *bb; *bb = b->next; free(b->data); free(b); } else bb = &(*bb)->next;
                }
            }
            pp = &s->next;
        }
        for (int i = 0; i < NB; i++) for (struct dst **pp = &DT[i]; *pp;) {
            if (rnd() < p) { struct dst *d = *pp; *pp = d->next; dst_free(d); kept++; } else pp = &(*pp)->next;
        }
    }
    // 3. roll file data back
    for (int i = 0; i < NB; i++) for (struct fst *s = FT[i]; s; s = s->next) {
        struct im *m = im_get(s->ino);
        if (!m) continue; // not reachable by any name: gone anyway
        int fd = open(m->path, O_WRONLY);
        if (fd < 0) { lg("powerloss: open %s errno %d", m->path, errno); continue; }
        struct stat st; fstat(fd, &st);
        if (st.st_size > s->dsize) bytes_dropped += st.st_size - s->dsize;
        if (ftruncate(fd, s->dsize)) lg("powerloss: ftruncate errno %d", errno);
        for (size_t j = 0; j < s->nbl; j++) for (struct blk *b = s->bl[j]; b; b = b->next) {
            if ((off_t)(b->idx * BS) >= s->dsize) continue;
            uint32_t len = b->len; if ((off_t)(b->idx * BS + len) > s->dsize) len = s->dsize - b->idx * BS;
            if (pwrite(fd, b->data, len, b->idx * BS) != (ssize_t)len) lg("powerloss: pwrite errno %d", errno);
            blocks_restored++;
        }
        if (s->hole_b > s->hole_a) {
            char z[BS]; memset(z, 0, BS);
            for (off_t o = s->hole_a; o < s->hole_b; o += BS) {
                size_t n = (s->hole_b - o) < BS ? (size_t)(s->hole_b - o) : BS;
                if (pwrite(fd, z, n, o) != (ssize_t)n) lg("powerloss: hole pwrite errno %d", errno);
            }
            lg("powerloss: hole in %s [%ld,%ld) size %ld", m->path, (long)s->hole_a, (long)s->hole_b, (long)s->dsize);
            holes_made++;
        }
        close(fd); files_rolled++;
    }
    for (int i = 0; i < NB; i++) for (struct dst *d = DT[i]; d; d = d->next) dirs_rolled++;
    // 4. rebuild the namespace
    char nw[4200], old[4200]; snprintf(nw, sizeof nw, "%s/new", L); snprintf(old, sizeof old, "%s/old", L);
    mkdir(nw, 0755); visited(rs.st_ino);
    build(rs.st_ino, B, nw);
    if (rename(B, old) != 0) lg("powerloss: rename B errno %d", errno);
    if (rename(nw, B) != 0) lg("powerloss: rename new errno %d", errno);
    chmod(B, rs.st_mode & 07777);
    nftw(L, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
    snprintf(out, outsz, "ok files_rolled=%ld bytes_dropped=%ld blocks_restored=%ld dirs_rolled=%ld kept=%ld holes=%ld out_files=%ld out_dirs=%ld missing=%ld\n",
             files_rolled, bytes_dropped, blocks_restored, dirs_rolled, kept, holes_made, n_files_out, n_dirs_out, n_missing);
    lg("%s", out);
}

static void *ctl_thread(void *arg) {
    (void)arg;
    for (;;) {
        FILE *f = fopen(CTL, "r"); if (!f) { sleep(1); continue; }
        char line[256];
        while (fgets(line, sizeof line, f)) {
            char out[1024] = "unknown\n";
            pthread_mutex_lock(&G);
            if (!strncmp(line, "powerloss", 9)) {
                double p = 0; unsigned long long seed = 1; int holes = 0;
                sscanf(line + 9, "%lf %llu %d", &p, &seed, &holes);
                if (dead) snprintf(out, sizeof out, "already dead\n");
                else { powerloss(p, seed, holes, out, sizeof out); dead = 1; }
            } else if (!strncmp(line, "stats", 5)) {
                long nf = 0, nd = 0, nbk = 0; off_t pend = 0;
                for (int i = 0; i < NB; i++) for (struct fst *s = FT[i]; s; s = s->next) { nf++; for (size_t j = 0; j < s->nbl; j++) for (struct blk *b = s->bl[j]; b; b = b->next) nbk++; }
                for (int i = 0; i < NB; i++) for (struct dst *d = DT[i]; d; d = d->next) nd++;
                (void)pend;
                snprintf(out, sizeof out, "files_pending=%ld saved_blocks=%ld dirs_pending=%ld fsync=%llu fsyncdir=%llu writes=%llu dead=%d\n", nf, nbk, nd, n_fsync, n_fsyncdir, n_write, dead);
            }
            pthread_mutex_unlock(&G);
            char tmp[4200]; snprintf(tmp, sizeof tmp, "%s.tmp", CTLOUT);
            FILE *o = fopen(tmp, "w"); if (o) { fputs(out, o); fclose(o); rename(tmp, CTLOUT); }
        }
        fclose(f);
    }
    return NULL;
}

static const struct fuse_operations ops = {
    .init = lz_init, .getattr = lz_getattr, .access = lz_access, .readlink = lz_readlink,
    .readdir = lz_readdir, .open = lz_open, .create = lz_create, .read = lz_read,
    .write = lz_write, .truncate = lz_truncate, .fallocate = lz_fallocate, .fsync = lz_fsync,
    .fsyncdir = lz_fsyncdir, .release = lz_release, .flush = lz_flush, .mkdir = lz_mkdir,
    .rmdir = lz_rmdir, .unlink = lz_unlink, .symlink = lz_symlink, .link = lz_link,
    .rename = lz_rename, .chmod = lz_chmod, .chown = lz_chown, .utimens = lz_utimens,
    .statfs = lz_statfs, .lseek = lz_lseek,
};

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: lazyfs BASE MOUNT [--ext4] [fuse opts]\n"); return 2; }
    char *base = realpath(argv[1], NULL); if (!base) { perror("base"); return 2; }
    snprintf(B, sizeof B, "%s/data", base); snprintf(L, sizeof L, "%s/lazy", base);
    snprintf(CTL, sizeof CTL, "%s/ctl", base); snprintf(CTLOUT, sizeof CTLOUT, "%s/ctl.out", base);
    snprintf(LOGP, sizeof LOGP, "%s/lazyfs.log", base);
    mkdir(B, 0755);
    nftw(L, rm_cb, 64, FTW_DEPTH | FTW_PHYS); // a previous daemon's leftovers (its state is gone: all durable)
    mkdir(L, 0755); char p[4200]; snprintf(p, sizeof p, "%s/ino", L); mkdir(p, 0755); snprintf(p, sizeof p, "%s/dirs", L); mkdir(p, 0755);
    unlink(CTL); mkfifo(CTL, 0600); unlink(CTLOUT);
    logf_ = fopen(LOGP, "a");
    char *fargv[32]; int fargc = 0;
    fargv[fargc++] = argv[0]; fargv[fargc++] = argv[2]; fargv[fargc++] = "-f"; fargv[fargc++] = "-s";
    fargv[fargc++] = "-o"; fargv[fargc++] = "default_permissions";
    for (int i = 3; i < argc && fargc < 30; i++) {
        if (!strcmp(argv[i], "--ext4")) ext4_mode = 1; else fargv[fargc++] = argv[i];
    }
    fargv[fargc] = NULL;
    lg("start base=%s ext4=%d", base, ext4_mode);
    pthread_t t; pthread_create(&t, NULL, ctl_thread, NULL); pthread_detach(t);
    return fuse_main(fargc, fargv, &ops, NULL);
}
