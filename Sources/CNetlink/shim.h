#ifndef NIMBUS_CNETLINK_SHIM_H
#define NIMBUS_CNETLINK_SHIM_H
// libnl-3 / libnl-route-3 for links, addresses and routes; the Linux headers live mode needs beside them
// (packet rings, ethtool, namespaces), in one place so that every syscall-level type comes from here.
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sched.h>
#include <poll.h>

#include <sys/syscall.h>
#include <unistd.h>
#ifndef CLONE_NEWNET
#define CLONE_NEWNET 0x40000000
#endif
// Declared by <sched.h> only under _GNU_SOURCE, which the Swift Glibc module is not built with.
extern int unshare(int flags);
extern int setns(int fd, int nstype);
// sendmmsg and struct mmsghdr, likewise _GNU_SOURCE only.
#include <sys/socket.h>
struct nimbus_mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; };
extern int sendmmsg(int fd, struct mmsghdr *vmessages, unsigned int vlen, int flags);
static inline int nimbus_sendmmsg(int fd, struct nimbus_mmsghdr *m, unsigned int n, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)m, n, flags);
}

// Swift cannot call variadic or macro-defined helpers; small inline wrappers do it.
static inline int nimbus_gettid(void) { return (int)syscall(SYS_gettid); }
static inline int nimbus_unshare_net(void) { return unshare(CLONE_NEWNET); }
static inline int nimbus_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }
static inline int nimbus_ioctl_ethtool(int fd, struct ifreq *ifr) { return ioctl(fd, SIOCETHTOOL, ifr); }
static inline int nimbus_ioctl_ifindex(int fd, struct ifreq *ifr) { return ioctl(fd, SIOCGIFINDEX, ifr); }
// TPACKET_V3 ring blocks are shared with the kernel: their status word needs acquire/release ordering.
static inline unsigned int nimbus_block_status(const struct tpacket_block_desc *b) {
    return __atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
}
static inline void nimbus_block_release(struct tpacket_block_desc *b) {
    __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}
static inline unsigned int nimbus_tp_status_user(void) { return TP_STATUS_USER; }
static inline unsigned int nimbus_tpacket_v3(void) { return TPACKET_V3; }
static inline unsigned long nimbus_tpacket3_hdrlen(void) { return TPACKET_ALIGN(sizeof(struct tpacket3_hdr)); }
#endif
