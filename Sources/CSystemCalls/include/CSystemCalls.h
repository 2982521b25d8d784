/* CSystemCalls: Linux system calls that glibc declares only under _GNU_SOURCE, which Swift's
 * Glibc module is built without. One wrapper each, nothing else. */
#ifndef CSYSTEMCALLS_H
#define CSYSTEMCALLS_H

/* syncfs(2): writes the file system holding `fd` to disk and, since Linux 5.8, reports a
 * writeback error there (EIO, ENOSPC) that a write(2) could not. 0, or -1 with errno set. */
int omx_syncfs(int fd);

#endif
