/* LD_PRELOAD for bench/cold_start.py: CPython's one-chunk data-stack cache, for interpreters without it.

   CPython keeps Python frames on a per-thread stack of 16 KiB chunks, mapped and unmapped one by one.
   Before python/cpython#146123 (gh-142183, on the 3.13 branch since 2026-03-18) a chunk was unmapped the
   moment its last frame returned, so code that runs right at a chunk boundary maps, faults in and unmaps
   a fresh chunk on every call: an import whose regex compiles land on the boundary takes thousands of
   page faults (about 30 ms of kernel time for the Payme handler) that an interpreter with the fix never
   pays. The fix keeps one freed chunk for the next push; this does the same one level down: one spare
   16 KiB anonymous mapping, of the ones handed out here, kept instead of unmapped and handed out again.
   Nothing else changes: every other mapping goes straight to the C library.

   CHUNK_CACHE_REPORT=path: the number of mappings handed out again, written there at exit. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define CHUNK 16384
#define TRACKED 256 /* live chunks remembered: far more than an import's frames ever span */

static void *(*libc_mmap)(void *, size_t, int, int, int, off_t);
static int (*libc_munmap)(void *, size_t);
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *handed_out[TRACKED];
static void *spare;
static unsigned long reused;

static void report(void) {
    const char *path = getenv("CHUNK_CACHE_REPORT");
    FILE *out = path ? fopen(path, "w") : NULL;
    if (out) {
        fprintf(out, "%lu\n", reused);
        fclose(out);
    }
}

__attribute__((constructor)) static void start(void) {
    libc_mmap = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
    libc_munmap = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
    atexit(report);
}

/* Only mappings made here may become the spare: a file mapping of the same size is not memory to hand out.
   The slot holding `was` now holds `now`; 0 if no slot held it (remember: was NULL; forget: now NULL). */
static int swap(void *was, void *now) {
    for (int i = 0; i < TRACKED; i++)
        if (handed_out[i] == was) {
            handed_out[i] = now;
            return 1;
        }
    return 0;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (addr != NULL || len != CHUNK || fd != -1 || prot != (PROT_READ | PROT_WRITE) ||
        flags != (MAP_PRIVATE | MAP_ANONYMOUS))
        return libc_mmap(addr, len, prot, flags, fd, off);
    pthread_mutex_lock(&lock);
    void *chunk = spare;
    spare = NULL;
    if (chunk != NULL)
        reused++;
    else if ((chunk = libc_mmap(addr, len, prot, flags, fd, off)) != MAP_FAILED)
        swap(NULL, chunk); /* a full table leaves it untracked: unmapped for real when freed */
    pthread_mutex_unlock(&lock);
    return chunk;
}

/* libpython calls mmap64; on 64-bit glibc it is the same call. */
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap(addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len) {
    int kept = 0;
    if (len == CHUNK) {
        pthread_mutex_lock(&lock);
        if (spare == NULL && swap(addr, addr))
            spare = addr; /* stays in the table: it is ours again when handed out */
        else
            swap(addr, NULL);
        kept = spare == addr;
        pthread_mutex_unlock(&lock);
    }
    return kept ? 0 : libc_munmap(addr, len);
}
