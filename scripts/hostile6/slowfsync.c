// LD_PRELOAD shim: delay every fsync/fdatasync by SLOWFSYNC_US microseconds
// (uniformly random up to it), to widen the window in which a Raft log write
// is queued but not durable. Build: gcc -shared -fPIC -O2 -o slowfsync.so slowfsync.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>
static long us(void){ const char*s=getenv("SLOWFSYNC_US"); return s?atol(s):0; }
static void nap(void){ long m=us(); if(m>0) usleep((useconds_t)(random()%m)); }
int fsync(int fd){ static int(*f)(int); if(!f) f=dlsym(RTLD_NEXT,"fsync"); nap(); return f(fd);}
int fdatasync(int fd){ static int(*f)(int); if(!f) f=dlsym(RTLD_NEXT,"fdatasync"); nap(); return f(fd);}
