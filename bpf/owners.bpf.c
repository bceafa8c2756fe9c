// SPDX-License-Identifier: MIT OR GPL-2.0
//
// whoport's in-kernel lookups, in one object so that one load of it (one parse of the
// kernel's BTF, one pass of CO-RE relocations) serves them all; each program is verified only
// when it is needed:
// - whoport_owners, a task_file iterator that writes one 16-byte record per socket descriptor
//   on the machine, and two per task it visits (network namespace and start time), so that
//   user space can map socket inodes to processes without reading /proc/*/fd (Linux 5.11+;
//   whoport_legacy_owners, the same for Linux 5.8 to 5.10);
// - whoport_mappings, a task_vma iterator, read only for sockets no descriptor holds, that
//   writes one record per memory mapping of a socket, instead of reading every /proc/PID/maps;
// - whoport_in_flight, a unix iterator, read only for sockets still ownerless after that, that
//   reports the socket files carried in unix socket messages not yet received (SCM_RIGHTS);
// - whoport_kernel_tcp and whoport_kernel_udp, tcp and udp iterators (Linux 5.9+) over the
//   sockets of whoport's network namespace, read only for sockets still ownerless, that report
//   the inode of each listening TCP or UDP socket whose struct socket has no file: a socket the
//   kernel made for itself (sock_create_kern: vxlan, WireGuard, nfsd...). Every socket a process
//   makes gets its file before it can be bound, and keeps it while any descriptor, mapping,
//   io_uring or unix socket message holds it.
// - whoport_sleepers_tcp and whoport_sleepers_udp, tcp and udp iterators over the same
//   sockets, read only for sockets still ownerless after every other look, that report the
//   threads asleep on the wait queue of each listening TCP or UDP socket that has a file: a
//   thread blocked in accept() or recv(), or in poll()/select() on it, keeps the file open
//   after another thread closed its descriptor. An entry is reported only when it is one of
//   two kinds, each established from the entry itself: its private pointer reads as a task
//   that is its own thread group leader's thread (accept(), recv()); or it is the wait entry
//   of a poll()/select() table entry (struct poll_table_entry) whose queue is this socket's
//   and whose file is this socket's, and whose private (struct poll_wqueues) names such a
//   task as the polling one. io_uring, epoll and AIO entries are neither (an epoll entry
//   holds no reference to the file either).
// - whoport_foreign_queues, a task_file iterator, read only for sockets still ownerless after
//   that, that does the same for the unix sockets of other network namespaces held in
//   descriptor tables (the unix iterator sees only the reader's namespace);
// - whoport_owners_queues, a task_file iterator, whoport_owners and whoport_foreign_queues in
//   one pass: read when the owner lookup ran in the kernel, for sockets still ownerless, to
//   look at every descriptor table and at the other namespaces' queues with one pass over
//   every descriptor of the machine instead of two.
//
// Records of whoport_owners and whoport_mappings (native endian): { u32 tgid; u32 fd; u64 value; }
//   fd < 0xfffffff1: value is the inode of a socket the task holds at descriptor fd, or
//                    RING_RECORD (high 32 bits all ones) with the thread's id in the low 32
//                    bits when descriptor fd is an io_uring instance, whose registered files
//                    user space then reads from /proc/PID/task/TID/fdinfo/FD (the table the
//                    descriptor is in: a thread may have its own, or the main thread may have
//                    exited)
//   fd = 0xffffffff: value is the inode of the task's network namespace
//   fd = 0xfffffffe: value is the thread group leader's start time (ns after boot)
//                    (both written before the task's first record, and again if a seq_file
//                    buffer ended inside that record: see last_seq_num)
//   fd = 0xfffffffd: value is the inode of a socket the task's memory maps (task_vma)
//   fd = 0xfffffffc: value is (network namespace inode << 32) | socket inode, right after
//                    the socket's own record, for a socket whose network namespace is not
//                    the task's (made elsewhere, then passed or kept across setns)
//   fd = 0xfffffffb: value is the start address of a mapping of an io_uring instance
//                    (task_vma), followed by
//   fd = 0xfffffffa: value is that io_uring instance's inode
//   fd = 0xfffffff9: (whoport_owners_queues only) a record of whoport_foreign_queues, right
//                    after the record of the unix socket whose queue holds it: tgid is that
//                    socket's inode (receiver), value is carried
//   fd = 0xfffffff8 to 0xfffffff1: the process's facts (task_facts), in this order, right
//                    before the record of the task's first TCP listener or IPv4/IPv6 datagram
//                    socket: uid | euid << 32; suid | fsuid << 32; effective capabilities;
//                    mount namespace inode | user namespace inode << 32; parent's tgid |
//                    number of threads << 32 (31 bits) | PARENT_KTHREAD; the parent's name,
//                    bytes 0-7 then 8-15; the device of the executable file's filesystem
//                    (kernel encoding) | EXE_KNOWN, or 0 when it has none; where its stack
//                    starts (mm->start_stack; 0 when not read)
//
// Records of whoport_in_flight and whoport_foreign_queues (native endian):
// { u64 receiver; u64 carried; }
//   receiver: inode of the unix socket whose receive queue holds the message (0 when that
//             socket has no file yet, such as a connection not accepted)
//   carried:  inode of a socket file in the message, or CUT_MARK | why (high 32 bits all
//             ones) as the last record of a queue that was not read to its end: why is
//             CUT_RECORDS when MAX_RECORDS sockets were reported from it (one object's
//             records must fit in the iterator's seq_file buffer, 32 KiB: a queue may carry
//             many more), CUT_STEPS when MAX_STEPS steps did not reach its end
// Records of whoport_kernel_tcp and whoport_kernel_udp (native endian): { u64 inode; }
// Records of whoport_sleepers_tcp and whoport_sleepers_udp (native endian):
// { u64 inode; u32 tgid; u32 tid; u32 kind; u32 zero; } (ids as the initial PID namespace
// numbers them; kind: SLEEPER_TASK, the entry's private is the task; SLEEPER_POLL, a
// poll()/select() table entry, which holds a reference to the file; SLEEPER_CUT, ids zero, as
// the last record of a socket whose wait queue was not read to its end: MAX_WAITERS entries
// were looked at, or an entry could not be read)
//
// Its walk is bounded (MAX_STEPS: messages and their descriptors, and MAX_RECORDS sockets
// reported, per queue); a queue not read to its end gets a last record that says so, and user
// space then says what remains possible for the sockets it could concern. The walk is
// one bpf_loop (Linux 5.17+, as old as the unix iterator), so the verifier checks its body
// instead of every turn of it.
//
// CO-RE: only the fields read here are declared, with preserve_access_index, so the loader
// relocates them against the running kernel's BTF. No vmlinux.h is generated or committed.
// Rebuild the committed object with bpf/build.sh.

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define CORE __attribute__((preserve_access_index))

struct ns_common {
	unsigned int inum;
} CORE;

struct net {
	struct ns_common ns;
} CORE;

struct mnt_namespace {
	struct ns_common ns;
} CORE;

struct user_namespace {
	struct ns_common ns;
} CORE;

struct nsproxy {
	struct net *net_ns;
	struct mnt_namespace *mnt_ns;
} CORE;

// A uid and a set of capabilities are structs in the kernel (kernel_cap_t: one u64 since
// Linux 6.3, two u32 before, the same eight bytes): only their places are relocated, and their
// bytes read as they are.
typedef struct {
	__u32 val;
} kuid_t;

typedef struct {
	__u64 val;
} kernel_cap_t;

struct cred {
	kuid_t uid;
	kuid_t suid;
	kuid_t euid;
	kuid_t fsuid;
	kernel_cap_t cap_effective;
	struct user_namespace *user_ns;
} CORE;

struct signal_struct {
	int nr_threads;
} CORE;

struct file;

struct mm_struct {
	struct file *exe_file;
	unsigned long start_stack;
} CORE;

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	__u64 start_boottime;
	struct task_struct *group_leader;
	struct task_struct *real_parent;
	struct nsproxy *nsproxy;
	const struct cred *real_cred;
	struct signal_struct *signal;
	struct mm_struct *mm;
	char comm[16];
} CORE;

struct super_block {
	unsigned long s_magic;
	unsigned int s_dev;
} CORE;

struct inode {
	__u16 i_mode;
	struct super_block *i_sb;
	unsigned long i_ino;
} CORE;

// On little and big endian alike the name's length is a u32 inside an anonymous union.
struct qstr {
	__u32 len;
	const unsigned char *name;
} CORE;

struct dentry {
	struct qstr d_name;
} CORE;

struct path {
	struct dentry *dentry;
} CORE;

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_mode;
	void *private_data;
} CORE;

// An O_PATH handle (`open("/proc/PID/fd/N", O_PATH)` on another's socket): it has the socket's
// inode but can neither use the socket nor keep it open (include/linux/fs.h).
#define FMODE_PATH 0x4000u

// A socket file's private data is its struct socket; the socket's namespace is
// sk->__sk_common.skc_net.net.
struct sock;

struct list_head {
	struct list_head *next;
} CORE;

struct wait_queue_head {
	struct list_head head;
} CORE;

struct socket_wq {
	struct wait_queue_head wait;
} CORE;

// A sleeper on a socket's wait queue; for accept() and recv() (prepare_to_wait and
// DEFINE_WAIT_FUNC callers), private is the sleeping task.
struct wait_queue_entry {
	void *private;
	struct list_head entry;
} CORE;

// poll() and select() (fs/select.c, __pollwait): one entry per file and queue, which takes a
// reference to the file (get_file) until the call returns; its wait entry's private is the
// caller's struct poll_wqueues.
struct poll_table_entry {
	struct file *filp;
	struct wait_queue_entry wait;
	struct wait_queue_head *wait_address;
} CORE;

struct poll_wqueues {
	struct task_struct *polling_task;
} CORE;

struct socket {
	short type;
	struct sock *sk;
	struct file *file;
	struct socket_wq wq;
} CORE;

typedef struct {
	struct net *net;
} possible_net_t;

struct sock_common {
	unsigned short skc_family;
	unsigned char skc_state;
	unsigned short skc_num;
	possible_net_t skc_net;
} CORE;

// The iterator's own file (an anonymous inode file, "bpf_iter").
struct seq_file {
	struct file *file;
} CORE;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} CORE;

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} CORE;

struct vm_area_struct {
	unsigned long vm_start;
	struct file *vm_file;
} CORE;

struct bpf_iter__task_vma {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	struct vm_area_struct *vma;
} CORE;

struct sk_buff {
	struct sk_buff *next;
	char cb[48];
} CORE;

struct sk_buff_head {
	struct sk_buff *next;
	__u32 qlen;
} CORE;

struct sock {
	struct sock_common __sk_common;
	struct sk_buff_head sk_receive_queue;
	struct socket *sk_socket;
} CORE;

struct unix_sock {
	struct sock sk;
} CORE;

// A struct socket is allocated with its inode right after it (SOCK_INODE).
struct socket_alloc {
	struct socket socket;
	struct inode vfs_inode;
} CORE;

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
} CORE;

struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct sock *udp_sk;
} CORE;

struct scm_fp_list {
	short count;
	struct file *fp[253];
} CORE;

// What af_unix keeps in skb->cb (UNIXCB).
struct unix_skb_parms {
	struct scm_fp_list *fp;
} CORE;

struct bpf_iter__unix {
	struct bpf_iter_meta *meta;
	struct unix_sock *unix_sk;
	__u32 uid;
} CORE;

// long bpf_seq_write(struct seq_file *m, const void *data, u32 len), helper 127.
static long (*bpf_seq_write)(struct seq_file *m, const void *data, __u32 len) = (void *)127;
// long bpf_probe_read_kernel(void *dst, u32 size, const void *unsafe_ptr), helper 113.
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)113;
// struct socket *bpf_sock_from_file(struct file *file), helper 162 (NULL: not a socket).
static struct socket *(*bpf_sock_from_file)(struct file *file) = (void *)162;
// struct task_struct *bpf_get_current_task_btf(void), helper 158: the task reading.
static struct task_struct *(*bpf_get_current_task_btf)(void) = (void *)158;
// long bpf_loop(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags), helper 181:
// calls callback_fn(index, callback_ctx) until it returns 1 or nr_loops times.
static long (*bpf_loop)(__u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags) = (void *)181;

#define S_IFMT 0170000
#define S_IFSOCK 0140000
// The magic number of sockfs, the filesystem of every socket's inode (include/uapi/linux/magic.h).
#define SOCKFS_MAGIC 0x534F434Bul
#define NETNS_RECORD 0xffffffffu
#define START_RECORD 0xfffffffeu
#define MAPPING_RECORD 0xfffffffdu
#define SOCKET_NETNS_RECORD 0xfffffffcu
#define RING_MAPPING_RECORD 0xfffffffbu
#define RING_INODE_RECORD 0xfffffffau
#define QUEUE_RECORD 0xfffffff9u
// A process's facts (task_facts), in this order, before the record of its first TCP listener
// or UDP socket: its uids, its capabilities, its namespaces, its parent and thread count, its
// parent's name in two records, its executable file's device, and where its stack starts.
#define IDS_RECORD 0xfffffff8u
#define SAVED_IDS_RECORD 0xfffffff7u
#define CAPS_RECORD 0xfffffff6u
#define NS_RECORD 0xfffffff5u
#define PARENT_RECORD 0xfffffff4u
#define PARENT_NAME_RECORD 0xfffffff3u
#define EXE_DEV_RECORD 0xfffffff2u
#define STACK_RECORD 0xfffffff1u
// In an EXE_DEV_RECORD's value: the process has an executable file, whose filesystem's device
// (the kernel's encoding: major << 20 | minor) is in the low 32 bits.
#define EXE_KNOWN (1ull << 32)
// In a PARENT_RECORD's value: the parent is a kernel thread, whose name /proc/PPID/comm gives
// longer than the kernel's comm (a workqueue's, a kthread's full name).
#define PARENT_KTHREAD (1ull << 63)
// task_struct.flags: a kernel thread (include/linux/sched.h).
#define PF_KTHREAD 0x00200000u
#define RING_RECORD 0xffffffff00000000ull
// A socket record's value: the inode in the low 32 bits; for a listening TCP socket, this mark
// and its local port in bits 32 to 47, and the next bit for an IPv6 one
// (src/collect/bpf/records.rs).
#define LISTENER_MARK (1ull << 48)
#define LISTENER_IPV6 (1ull << 49)
// An io_uring instance is an anonymous inode file named "[io_uring]" (its link reads
// "anon_inode:[io_uring]").
#define RING_NAME "[io_uring]"
#define RING_NAME_LEN 10

struct record {
	__u32 tgid;
	__u32 fd;
	__u64 value;
};

// The last task a header was written for (the iterator visits one task's files in a row),
// and its network namespace's inode.
__u64 last_task_addr = 0;
__u32 last_task_netns = 0;
// When what a call writes does not fit in the seq_file buffer, the kernel discards all of it
// and calls the program again for the same element at the next read, with the same
// meta->seq_num (bpf_seq_read: the number grows only when the iterator moves on). So the
// state above is kept as it was before the last call (its seq_num, and the two values), and
// a call whose seq_num is the last call's puts it back first: a header whose bytes were
// discarded is written again, and the stream is the same however the reads split it.
__u64 last_seq_num = ~0ull;
__u64 task_before = 0;
__u32 netns_before = 0;
// Each pass (each descriptor of the iterator opened) is a session of its own, and the second
// look reads the same program again: nothing of the last pass's state carries over.
__u64 last_session = 0;

// The last task whose facts were written (task_facts), kept as the header's state is.
__u64 last_facts_addr = 0;
__u64 facts_before = 0;

// The kernel's TCP_LISTEN, SOCK_STREAM, SOCK_DGRAM, AF_INET and AF_INET6.
#define TCP_LISTEN 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define AF_INET 2
#define AF_INET6 10

// What the owner lookup reads of a socket file's socket.
struct socket_facts {
	// The inode of its network namespace, or 0 when it cannot be read.
	__u32 netns;
	// Its local port when it is a stream socket of IPv4 or IPv6 in the listening state (a
	// TCP listener; an MPTCP one, whose first subflow TCP's table lists under the same
	// inode; an SCTP one, which would be asked of TCP's table in vain), otherwise 0: whoport
	// asks again for a listener its socket dump did not return.
	__u16 listening_port;
	// Whether that listener is IPv6's.
	__u8 ipv6;
	// Whether it is a datagram socket of IPv4 or IPv6 (UDP's, or ICMP's).
	__u8 inet_dgram;
};

// The facts of a socket file's socket. This runs for every socket descriptor of the machine:
// the socket comes from bpf_sock_from_file (Linux 5.11+; NULL unless the file is a socket's
// own), whose pointers are followed with plain loads (each made a load that cannot fault by
// the kernel), not a helper call per pointer; what is read of the socket shares the cache
// lines its namespace is read from. `probed`: for kernels without that helper, the socket is
// the file's private data, read with probe reads.
static __attribute__((always_inline)) struct socket_facts socket_facts(struct file *file, int probed)
{
	struct socket_facts facts = {};
	struct socket *sock = 0;
	struct sock *sk = 0;
	struct net *net = 0;
	short type = 0;
	unsigned short family = 0;
	unsigned short num = 0;
	unsigned char state = 0;

	if (!probed) {
		sock = bpf_sock_from_file(file);
		sk = sock ? sock->sk : 0;
		if (!sk)
			return facts;
		net = sk->__sk_common.skc_net.net;
		facts.netns = net ? net->ns.inum : 0;
		type = sock->type;
		family = sk->__sk_common.skc_family;
		state = sk->__sk_common.skc_state;
		num = sk->__sk_common.skc_num;
	} else {
		sock = file->private_data;
		if (!sock || bpf_probe_read_kernel(&sk, sizeof(sk), __builtin_preserve_access_index(&sock->sk)) || !sk)
			return facts;
		if (bpf_probe_read_kernel(&net, sizeof(net),
					  __builtin_preserve_access_index(&sk->__sk_common.skc_net.net)) || !net ||
		    bpf_probe_read_kernel(&facts.netns, sizeof(facts.netns), __builtin_preserve_access_index(&net->ns.inum)))
			facts.netns = 0;
		if (bpf_probe_read_kernel(&type, sizeof(type), __builtin_preserve_access_index(&sock->type)) ||
		    bpf_probe_read_kernel(&family, sizeof(family), __builtin_preserve_access_index(&sk->__sk_common.skc_family)) ||
		    bpf_probe_read_kernel(&state, sizeof(state), __builtin_preserve_access_index(&sk->__sk_common.skc_state)) ||
		    bpf_probe_read_kernel(&num, sizeof(num), __builtin_preserve_access_index(&sk->__sk_common.skc_num)))
			return facts;
	}
	if (type == SOCK_STREAM && (family == AF_INET || family == AF_INET6) && state == TCP_LISTEN) {
		facts.listening_port = num;
		facts.ipv6 = family == AF_INET6;
	}
	facts.inet_dgram = type == SOCK_DGRAM && (family == AF_INET || family == AF_INET6);
	return facts;
}

// The inode of a task's network namespace (0 when it has none left: an exiting task). Read
// with probe reads, as the leader's start time below: where a program loads a pointer
// directly from a pointer the kernel trusts (the task bpf_get_current_task_btf gives, or a
// task iterator's on recent kernels), the verifier looks up by name, in the whole of the
// kernel's BTF, whether the pointer loaded may be trusted too (several linear searches at
// each load it checks); these reads are made once per task.
static __attribute__((always_inline)) __u32 task_netns(struct task_struct *task)
{
	struct nsproxy *ns = 0;
	struct net *net = 0;
	__u32 inum = 0;

	if (bpf_probe_read_kernel(&ns, sizeof(ns), __builtin_preserve_access_index(&task->nsproxy)) || !ns ||
	    bpf_probe_read_kernel(&net, sizeof(net), __builtin_preserve_access_index(&ns->net_ns)) || !net ||
	    bpf_probe_read_kernel(&inum, sizeof(inum), __builtin_preserve_access_index(&net->ns.inum)))
		return 0;
	return inum;
}

// The start time of a task's thread group leader (ns after boot; 0 when it cannot be read).
static __attribute__((always_inline)) __u64 leader_start(struct task_struct *task)
{
	struct task_struct *leader = 0;
	__u64 start = 0;

	if (bpf_probe_read_kernel(&leader, sizeof(leader), __builtin_preserve_access_index(&task->group_leader)) ||
	    !leader ||
	    bpf_probe_read_kernel(&start, sizeof(start), __builtin_preserve_access_index(&leader->start_boottime)))
		return 0;
	return start;
}

// The facts of a process that /proc/PID/status, /proc/PID/ns/{mnt,user} and the parent's
// /proc/PPID/comm give, read here for the processes whose sockets a listing may show (its
// TCP listeners and UDP sockets), so that user space need not read those files: all of its
// thread group leader's, as /proc/PID is (its credentials as the kernel's objective ones,
// real_cred, which status shows; its parent as stat names it, and that parent's leader's
// name, which /proc/PPID/comm shows). Written only when every read succeeds; a leader gone
// (an exited main thread: no namespaces left) gets none, and user space reads /proc. With
// probe reads, as task_netns: once per process.
static __attribute__((always_inline)) void task_facts(struct seq_file *seq, struct task_struct *task)
{
	struct task_struct *leader = 0, *parent = 0, *parent_leader = 0;
	const struct cred *cred = 0;
	struct nsproxy *ns = 0;
	struct mnt_namespace *mnt = 0;
	struct user_namespace *user = 0;
	struct signal_struct *signal = 0;
	__u32 uid = 0, euid = 0, suid = 0, fsuid = 0, mnt_inum = 0, user_inum = 0;
	int ppid = 0, threads = 0;
	__u64 caps = 0;
	char name[16];
	struct mm_struct *mm = 0;
	struct file *exe = 0;
	struct inode *exe_inode = 0;
	struct super_block *exe_sb = 0;
	__u64 exe_dev = 0;
	unsigned long start_stack = 0;
	unsigned int parent_flags = 0;

	// Every read is made and its error kept, with no branch between them (the verifier then
	// follows one path): a pointer read as NULL makes the read through it fail.
	long err = 0;
	err |= bpf_probe_read_kernel(&leader, sizeof(leader), __builtin_preserve_access_index(&task->group_leader));
	err |= bpf_probe_read_kernel(&cred, sizeof(cred), __builtin_preserve_access_index(&leader->real_cred));
	err |= bpf_probe_read_kernel(&uid, sizeof(uid), __builtin_preserve_access_index(&cred->uid));
	err |= bpf_probe_read_kernel(&euid, sizeof(euid), __builtin_preserve_access_index(&cred->euid));
	err |= bpf_probe_read_kernel(&suid, sizeof(suid), __builtin_preserve_access_index(&cred->suid));
	err |= bpf_probe_read_kernel(&fsuid, sizeof(fsuid), __builtin_preserve_access_index(&cred->fsuid));
	err |= bpf_probe_read_kernel(&caps, sizeof(caps), __builtin_preserve_access_index(&cred->cap_effective));
	err |= bpf_probe_read_kernel(&user, sizeof(user), __builtin_preserve_access_index(&cred->user_ns));
	err |= bpf_probe_read_kernel(&user_inum, sizeof(user_inum), __builtin_preserve_access_index(&user->ns.inum));
	err |= bpf_probe_read_kernel(&ns, sizeof(ns), __builtin_preserve_access_index(&leader->nsproxy));
	err |= bpf_probe_read_kernel(&mnt, sizeof(mnt), __builtin_preserve_access_index(&ns->mnt_ns));
	err |= bpf_probe_read_kernel(&mnt_inum, sizeof(mnt_inum), __builtin_preserve_access_index(&mnt->ns.inum));
	err |= bpf_probe_read_kernel(&signal, sizeof(signal), __builtin_preserve_access_index(&leader->signal));
	err |= bpf_probe_read_kernel(&threads, sizeof(threads), __builtin_preserve_access_index(&signal->nr_threads));
	err |= bpf_probe_read_kernel(&parent, sizeof(parent), __builtin_preserve_access_index(&leader->real_parent));
	err |= bpf_probe_read_kernel(&ppid, sizeof(ppid), __builtin_preserve_access_index(&parent->tgid));
	err |= bpf_probe_read_kernel(&parent_leader, sizeof(parent_leader), __builtin_preserve_access_index(&parent->group_leader));
	err |= bpf_probe_read_kernel(name, sizeof(name), __builtin_preserve_access_index(&parent_leader->comm));
	err |= bpf_probe_read_kernel(&parent_flags, sizeof(parent_flags),
				     __builtin_preserve_access_index(&parent_leader->flags));
	if (err)
		return;
	// The filesystem of its executable file (what /proc/PID/exe leads to), read from memory:
	// user space need not read its memory map to know whether following that link asks a
	// filesystem that may not answer. (Its device as stat() gives it may be another: btrfs
	// subvolumes, overlayfs layers.)
	long exe_err = 0;
	exe_err |= bpf_probe_read_kernel(&mm, sizeof(mm), __builtin_preserve_access_index(&leader->mm));
	exe_err |= bpf_probe_read_kernel(&exe, sizeof(exe), __builtin_preserve_access_index(&mm->exe_file));
	exe_err |= bpf_probe_read_kernel(&exe_inode, sizeof(exe_inode), __builtin_preserve_access_index(&exe->f_inode));
	exe_err |= bpf_probe_read_kernel(&exe_sb, sizeof(exe_sb), __builtin_preserve_access_index(&exe_inode->i_sb));
	exe_err |= bpf_probe_read_kernel(&exe_dev, sizeof(unsigned int), __builtin_preserve_access_index(&exe_sb->s_dev));
	if (exe_err)
		exe_dev = 0;
	else
		exe_dev |= EXE_KNOWN;
	// Where its stack starts (/proc/PID/stat's startstack): another after every exec, which
	// is how user space tells that the process ran another program since this pass (with
	// other credentials, a setuid program's).
	if (!mm || bpf_probe_read_kernel(&start_stack, sizeof(start_stack),
					 __builtin_preserve_access_index(&mm->start_stack)))
		start_stack = 0;
	struct record r;
	r.tgid = task->tgid;
	r.fd = IDS_RECORD;
	r.value = uid | (__u64)euid << 32;
	bpf_seq_write(seq, &r, sizeof(r));
	r.fd = SAVED_IDS_RECORD;
	r.value = suid | (__u64)fsuid << 32;
	bpf_seq_write(seq, &r, sizeof(r));
	r.fd = CAPS_RECORD;
	r.value = caps;
	bpf_seq_write(seq, &r, sizeof(r));
	r.fd = NS_RECORD;
	r.value = mnt_inum | (__u64)user_inum << 32;
	bpf_seq_write(seq, &r, sizeof(r));
	r.fd = PARENT_RECORD;
	r.value = (__u32)ppid | (__u64)((__u32)threads & 0x7fffffff) << 32 |
		  (parent_flags & PF_KTHREAD ? PARENT_KTHREAD : 0);
	bpf_seq_write(seq, &r, sizeof(r));
	r.fd = PARENT_NAME_RECORD;
	__builtin_memcpy(&r.value, name, 8);
	bpf_seq_write(seq, &r, sizeof(r));
	__builtin_memcpy(&r.value, name + 8, 8);
	bpf_seq_write(seq, &r, sizeof(r));
	r.fd = EXE_DEV_RECORD;
	r.value = exe_dev;
	bpf_seq_write(seq, &r, sizeof(r));
	r.fd = STACK_RECORD;
	r.value = start_stack;
	bpf_seq_write(seq, &r, sizeof(r));
}

// Is this the inode of a socket? Its mode says so, and its filesystem must be sockfs: a
// filesystem's socket node (what bind() of a unix socket, or mknod(S_IFSOCK), leaves in a
// directory) has a socket's mode too, and anyone may hold one open (O_PATH) or pass it in a
// unix socket message, but its inode number is its filesystem's, which whoever made it may
// choose (a FUSE server says what it is): taken for a socket, it would name that user's
// process as the holder of any listener whose socket has that number. Plain loads, as in
// owner_records.
static __attribute__((always_inline)) int is_socket(struct inode *inode)
{
	if ((inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	struct super_block *sb = inode->i_sb;
	return sb && sb->s_magic == SOCKFS_MAGIC;
}

// Is `file` on the anonymous inodes' filesystem, where the iterator's own file is? A name
// says a file is an io_uring instance only there, where only the kernel names files: a file
// anywhere else may have any name. The iterator's own file is reached from the seq_file, a
// pointer the kernel trusts: read with probe reads, as in task_netns (plain loads there cost
// the verifier about 1.5 ms of searches in the kernel's BTF, more than the rest of the
// program; this runs only for files named like an io_uring instance).
static __attribute__((always_inline)) int anon_file(struct seq_file *seq, struct file *file)
{
	struct file *own = 0;
	struct inode *own_inode = 0;
	struct super_block *own_sb = 0;

	if (bpf_probe_read_kernel(&own, sizeof(own), __builtin_preserve_access_index(&seq->file)) || !own ||
	    bpf_probe_read_kernel(&own_inode, sizeof(own_inode), __builtin_preserve_access_index(&own->f_inode)) ||
	    !own_inode ||
	    bpf_probe_read_kernel(&own_sb, sizeof(own_sb), __builtin_preserve_access_index(&own_inode->i_sb)) ||
	    !own_sb)
		return 0;
	struct inode *inode = file->f_inode;
	return inode && own_sb == inode->i_sb;
}

// The records of one descriptor (and the task's header records before its first); `probed`
// as for socket_facts (each program has its own copy). The task and file the task_file
// iterator hands are not pointers the kernel trusts (PTR_TO_BTF_ID_OR_NULL, on every kernel
// since Linux 5.8; `f_path.dentry` even reads as an untrusted one where f_path is in a union,
// 6.18): the verifier makes every plain load through them, and through what they lead to, a
// load that cannot fault (BPF_PROBE_MEM: a fault reads 0), as safe as a probe read.
static __attribute__((always_inline)) void owner_records(struct bpf_iter__task_file *ctx, int probed)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct record r;

	if (!task || !file)
		return;
	__u64 session = ctx->meta->session_id;
	if (session != last_session) {
		last_session = session;
		last_task_addr = 0;
		last_task_netns = 0;
		last_facts_addr = 0;
		last_seq_num = ~0ull;
	}
	__u64 seq_num = ctx->meta->seq_num;
	if (seq_num == last_seq_num) {
		// Shown again: the last call's output was discarded.
		last_task_addr = task_before;
		last_task_netns = netns_before;
		last_facts_addr = facts_before;
	} else {
		last_seq_num = seq_num;
		task_before = last_task_addr;
		netns_before = last_task_netns;
		facts_before = last_facts_addr;
	}
	r.tgid = task->tgid;
	if (last_task_addr != (__u64)task) {
		last_task_addr = (__u64)task;
		r.fd = NETNS_RECORD;
		r.value = task_netns(task);
		last_task_netns = r.value;
		bpf_seq_write(seq, &r, sizeof(r));
		r.fd = START_RECORD;
		r.value = leader_start(task);
		bpf_seq_write(seq, &r, sizeof(r));
	}
	struct inode *inode = file->f_inode;
	if (!inode)
		return;
	r.fd = ctx->fd;
	if (is_socket(inode) && !(file->f_mode & FMODE_PATH)) {
		struct socket_facts facts = socket_facts(file, probed);
		if ((facts.listening_port || facts.inet_dgram) && last_facts_addr != (__u64)task) {
			last_facts_addr = (__u64)task;
			task_facts(seq, task);
		}
		r.value = inode->i_ino;
		if (facts.listening_port && !(r.value >> 32))
			r.value |= LISTENER_MARK | (facts.ipv6 ? LISTENER_IPV6 : 0) |
				   (__u64)facts.listening_port << 32;
		bpf_seq_write(seq, &r, sizeof(r));
		__u32 netns = facts.netns;
		if (netns && netns != last_task_netns) {
			r.fd = SOCKET_NETNS_RECORD;
			r.value = ((__u64)netns << 32) | (__u32)inode->i_ino;
			bpf_seq_write(seq, &r, sizeof(r));
		}
		return;
	}
	struct dentry *dentry = file->f_path.dentry;
	if (!dentry || dentry->d_name.len != RING_NAME_LEN)
		return;
	char name[RING_NAME_LEN];
	if (bpf_probe_read_kernel(name, sizeof(name), dentry->d_name.name))
		return;
	for (int i = 0; i < RING_NAME_LEN; i++)
		if (name[i] != RING_NAME[i])
			return;
	if (!anon_file(seq, file))
		return;
	r.value = RING_RECORD | (__u32)task->pid;
	bpf_seq_write(seq, &r, sizeof(r));
}

SEC("iter/task_file")
int whoport_owners(struct bpf_iter__task_file *ctx)
{
	owner_records(ctx, 0);
	return 0;
}

// whoport_owners for Linux 5.8 to 5.10, which lack bpf_sock_from_file.
SEC("iter/task_file")
int whoport_legacy_owners(struct bpf_iter__task_file *ctx)
{
	owner_records(ctx, 1);
	return 0;
}

SEC("iter/task_vma")
int whoport_mappings(struct bpf_iter__task_vma *ctx)
{
	struct task_struct *task = ctx->task;
	struct vm_area_struct *vma = ctx->vma;
	struct record r;

	if (!task || !vma)
		return 0;
	struct file *file = vma->vm_file;
	if (!file)
		return 0;
	struct inode *inode = file->f_inode;
	if (!inode)
		return 0;
	r.tgid = task->tgid;
	if (is_socket(inode)) {
		r.fd = MAPPING_RECORD;
		r.value = inode->i_ino;
		bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
		return 0;
	}
	// A mapping of an io_uring instance (its rings or submission entries): where, then which.
	struct dentry *dentry = file->f_path.dentry;
	if (!dentry || dentry->d_name.len != RING_NAME_LEN)
		return 0;
	char name[RING_NAME_LEN];
	if (bpf_probe_read_kernel(name, sizeof(name), dentry->d_name.name))
		return 0;
	for (int i = 0; i < RING_NAME_LEN; i++)
		if (name[i] != RING_NAME[i])
			return 0;
	if (!anon_file(ctx->meta->seq, file))
		return 0;
	r.fd = RING_MAPPING_RECORD;
	r.value = vma->vm_start;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	r.fd = RING_INODE_RECORD;
	r.value = inode->i_ino;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

// At most this many steps per unix socket: a step looks at one message, or at one descriptor
// of it (a message carries at most SCM_MAX_FD, 253).
#define MAX_STEPS 65536
#define SCM_MAX_FD 253
// At most this many sockets reported per unix socket queue, then a cut record: every record
// of one object must fit in the seq_file buffer (PAGE_SIZE << 3, at least 32 KiB; a write
// fits while it leaves a byte free), or the kernel drops them all or fails the whole read
// with E2BIG. 2000 records and the cut record: 32,016 bytes.
#define MAX_RECORDS 2000
#define CUT_MARK 0xffffffff00000000ULL
#define CUT_RECORDS 1
#define CUT_STEPS 2

struct carried_record {
	__u64 receiver;
	__u64 carried;
};

// The state of the walk of one unix socket's queue.
struct queue_walk {
	struct seq_file *seq;
	// The message whose descriptors are being looked at, and the next one.
	struct scm_fp_list *fpl;
	struct sk_buff *next;
	__u32 left;	// messages not looked at yet
	__u32 fd;	// the next descriptor of fpl
	__u32 fds;	// how many descriptors fpl holds
	__u32 written;	// sockets reported from this queue
	__u32 ended;	// the end of the queue was reached
	struct carried_record r;
};

// The last record of a queue not read to its end, with why.
static void cut(struct queue_walk *w, __u64 why)
{
	w->r.carried = CUT_MARK | why;
	bpf_seq_write(w->seq, &w->r, sizeof(w->r));
	w->ended = 1;
}

// One step: the next descriptor of the current message (reported when it is a socket), or
// when there is none the next message. Returns 1 at the end of the queue.
static long one_step(__u32 step, struct queue_walk *w)
{
	if (w->fd < w->fds && w->fd < SCM_MAX_FD && w->fpl) {
		struct file *f = 0;
		struct inode *inode = 0;
		__u16 mode = 0;
		unsigned int f_mode = 0;
		unsigned long ino = 0;
		bpf_probe_read_kernel(&f, sizeof(f), &w->fpl->fp[w->fd]);
		w->fd++;
		if (f) {
			bpf_probe_read_kernel(&inode, sizeof(inode), &f->f_inode);
			bpf_probe_read_kernel(&f_mode, sizeof(f_mode), &f->f_mode);
		}
		// An O_PATH handle in a message does not keep the socket open.
		if (f_mode & FMODE_PATH)
			return 0;
		struct super_block *sb = 0;
		unsigned long magic = 0;
		if (inode) {
			bpf_probe_read_kernel(&mode, sizeof(mode), &inode->i_mode);
			bpf_probe_read_kernel(&sb, sizeof(sb), &inode->i_sb);
		}
		if (sb)
			bpf_probe_read_kernel(&magic, sizeof(magic), &sb->s_magic);
		// A socket's own inode only (see is_socket).
		if ((mode & S_IFMT) != S_IFSOCK || magic != SOCKFS_MAGIC)
			return 0;
		if (w->written >= MAX_RECORDS) {
			cut(w, CUT_RECORDS);
			return 1;
		}
		bpf_probe_read_kernel(&ino, sizeof(ino), &inode->i_ino);
		w->r.carried = ino;
		bpf_seq_write(w->seq, &w->r, sizeof(w->r));
		w->written++;
		return 0;
	}
	struct sk_buff *skb = w->next;
	if (!w->left || !skb) {
		w->ended = 1;
		return 1;
	}
	w->left--;
	// skb->cb is bytes to the verifier: what it holds is read with probe reads.
	struct unix_skb_parms *cb = (struct unix_skb_parms *)skb->cb;
	struct scm_fp_list *fpl = 0;
	short count = 0;
	bpf_probe_read_kernel(&fpl, sizeof(fpl), &cb->fp);
	if (fpl)
		bpf_probe_read_kernel(&count, sizeof(count), &fpl->count);
	w->fpl = fpl;
	w->fd = 0;
	w->fds = count > 0 ? count : 0;
	w->next = skb->next;
	return 0;
}

// The whole queue walk: a cut record when MAX_STEPS steps did not reach its end.
static void walk_queue(struct queue_walk *w)
{
	bpf_loop(MAX_STEPS, one_step, w, 0);
	if (!w->ended)
		cut(w, CUT_STEPS);
}

SEC("iter/unix")
int whoport_in_flight(struct bpf_iter__unix *ctx)
{
	struct unix_sock *u = ctx->unix_sk;
	struct queue_walk w = {};

	if (!u)
		return 0;
	w.left = u->sk.sk_receive_queue.qlen;
	if (!w.left)
		return 0;
	w.seq = ctx->meta->seq;
	struct socket *sock = u->sk.sk_socket;
	if (sock && sock->file && sock->file->f_inode)
		w.r.receiver = sock->file->f_inode->i_ino;
	w.next = u->sk.sk_receive_queue.next;
	walk_queue(&w);
	return 0;
}

// The socket of a TCP listener (NULL for any other state: time-wait and request sockets are
// not full sockets).
static struct sock *listener(struct sock_common *skc)
{
	unsigned char state = 0;

	if (!skc ||
	    bpf_probe_read_kernel(&state, sizeof(state), __builtin_preserve_access_index(&skc->skc_state)) ||
	    state != TCP_LISTEN)
		return 0;
	return (struct sock *)skc;
}

// The struct socket of `sk`, with its file (NULL when it has none) and inode; NULL when it
// cannot be read (every read is a probe read: the tcp iterator hands a struct sock_common, of
// which a full socket is a prefix).
static struct socket *socket_of(struct sock *sk, struct file **file, unsigned long *ino)
{
	struct socket *sock = 0;

	if (!sk ||
	    bpf_probe_read_kernel(&sock, sizeof(sock), __builtin_preserve_access_index(&sk->sk_socket)) || !sock)
		return 0;
	if (bpf_probe_read_kernel(file, sizeof(*file), __builtin_preserve_access_index(&sock->file)))
		return 0;
	struct socket_alloc *alloc = (struct socket_alloc *)sock;
	if (bpf_probe_read_kernel(ino, sizeof(*ino), __builtin_preserve_access_index(&alloc->vfs_inode.i_ino)) || !*ino)
		return 0;
	return sock;
}

// Reports the inode of a socket whose struct socket has no file.
static void report_fileless(struct seq_file *seq, struct sock *sk)
{
	struct file *file = 0;
	unsigned long ino = 0;

	if (!socket_of(sk, &file, &ino) || file)
		return;
	__u64 value = ino;
	bpf_seq_write(seq, &value, sizeof(value));
}

SEC("iter/tcp")
int whoport_kernel_tcp(struct bpf_iter__tcp *ctx)
{
	report_fileless(ctx->meta->seq, listener(ctx->sk_common));
	return 0;
}

SEC("iter/udp")
int whoport_kernel_udp(struct bpf_iter__udp *ctx)
{
	report_fileless(ctx->meta->seq, ctx->udp_sk);
	return 0;
}

// At most this many wait queue entries per socket.
#define MAX_WAITERS 64

// The kinds of sleeper records.
#define SLEEPER_TASK 1
#define SLEEPER_POLL 2
#define SLEEPER_CUT 3

struct sleeper_record {
	__u64 inode;
	__u32 tgid;
	__u32 tid;
	__u32 kind;
	__u32 zero;
};

// The state of the walk of one socket's wait queue.
struct waiters_walk {
	struct seq_file *seq;
	struct wait_queue_head *queue;	// the socket's wait queue
	struct list_head *head;		// its list's head (the end of the list)
	struct list_head *pos;		// the entry looked at last
	struct file *file;		// the socket's file
	int ended;			// the walk came back to the head
	struct sleeper_record r;
};

// Whether `t` reads as a task: a thread whose group leader leads itself and has its ids.
// Sets the record's ids when it does.
static int as_task(struct task_struct *t, struct sleeper_record *r)
{
	struct task_struct *leader = 0, *leaders_leader = 0;
	int pid = 0, tgid = 0, leader_pid = 0, leader_tgid = 0;

	if (!t ||
	    bpf_probe_read_kernel(&pid, sizeof(pid), __builtin_preserve_access_index(&t->pid)) ||
	    bpf_probe_read_kernel(&tgid, sizeof(tgid), __builtin_preserve_access_index(&t->tgid)) ||
	    bpf_probe_read_kernel(&leader, sizeof(leader), __builtin_preserve_access_index(&t->group_leader)) ||
	    pid <= 0 || tgid <= 0 || !leader)
		return 0;
	if (bpf_probe_read_kernel(&leaders_leader, sizeof(leaders_leader),
				  __builtin_preserve_access_index(&leader->group_leader)) ||
	    bpf_probe_read_kernel(&leader_pid, sizeof(leader_pid), __builtin_preserve_access_index(&leader->pid)) ||
	    bpf_probe_read_kernel(&leader_tgid, sizeof(leader_tgid), __builtin_preserve_access_index(&leader->tgid)))
		return 0;
	if (leaders_leader != leader || leader_pid != tgid || leader_tgid != tgid)
		return 0;
	if (pid == tgid && t != leader)
		return 0;
	r->tgid = tgid;
	r->tid = pid;
	return 1;
}

// The polling task of wait entry `e` when it is a poll()/select() table entry of this
// socket: the entry that holds it has this socket's queue as its queue and this socket's file
// as its file (both: an epoll entry's layout also has the queue right after the wait entry).
static struct task_struct *poller(struct wait_queue_entry *e, void *private, struct waiters_walk *w)
{
	struct poll_table_entry *p =
		(struct poll_table_entry *)((char *)e -
					    __builtin_preserve_field_info(((struct poll_table_entry *)0)->wait, 0));
	struct wait_queue_head *queue = 0;
	struct file *filp = 0;
	struct task_struct *task = 0;
	struct poll_wqueues *table = private;

	if (!table ||
	    bpf_probe_read_kernel(&queue, sizeof(queue), __builtin_preserve_access_index(&p->wait_address)) ||
	    queue != w->queue ||
	    bpf_probe_read_kernel(&filp, sizeof(filp), __builtin_preserve_access_index(&p->filp)) ||
	    filp != w->file ||
	    bpf_probe_read_kernel(&task, sizeof(task), __builtin_preserve_access_index(&table->polling_task)))
		return 0;
	return task;
}

// One step: the next entry of the wait queue, reported when its private is a task or it is a
// poll()/select() entry of a task. Returns 1 at the end of the queue.
static long one_waiter(__u32 step, struct waiters_walk *w)
{
	struct list_head *pos = w->pos;
	struct list_head *next = 0;
	void *private = 0;

	// (w is whoport's own: only the kernel's types are relocated.)
	if (bpf_probe_read_kernel(&next, sizeof(next), __builtin_preserve_access_index(&pos->next)) ||
	    !next)
		return 1;
	if (next == w->head) {
		w->ended = 1;
		return 1;
	}
	// One step more than entries looked at: a queue of exactly MAX_WAITERS ends there.
	if (step >= MAX_WAITERS)
		return 1;
	w->pos = next;
	struct wait_queue_entry *e =
		(struct wait_queue_entry *)((char *)next -
				     __builtin_preserve_field_info(((struct wait_queue_entry *)0)->entry, 0));
	if (bpf_probe_read_kernel(&private, sizeof(private), __builtin_preserve_access_index(&e->private)))
		return 1;
	if (as_task(private, &w->r))
		w->r.kind = SLEEPER_TASK;
	else if (as_task(poller(e, private, w), &w->r))
		w->r.kind = SLEEPER_POLL;
	else
		return 0;
	bpf_seq_write(w->seq, &w->r, sizeof(w->r));
	return 0;
}

// Reports the tasks asleep on the wait queue of a socket that has a file, then a SLEEPER_CUT
// record when the queue was not read to its end.
static void report_sleepers(struct seq_file *seq, struct sock *sk)
{
	struct file *file = 0;
	unsigned long ino = 0;
	struct waiters_walk w = {};

	struct socket *sock = socket_of(sk, &file, &ino);
	if (!sock || !file)
		return;
	w.seq = seq;
	w.queue = __builtin_preserve_access_index(&sock->wq.wait);
	w.head = __builtin_preserve_access_index(&sock->wq.wait.head);
	w.pos = w.head;
	w.file = file;
	w.r.inode = ino;
	bpf_loop(MAX_WAITERS + 1, one_waiter, &w, 0);
	if (w.ended)
		return;
	w.r.kind = SLEEPER_CUT;
	w.r.tgid = 0;
	w.r.tid = 0;
	bpf_seq_write(seq, &w.r, sizeof(w.r));
}

SEC("iter/tcp")
int whoport_sleepers_tcp(struct bpf_iter__tcp *ctx)
{
	report_sleepers(ctx->meta->seq, listener(ctx->sk_common));
	return 0;
}

SEC("iter/udp")
int whoport_sleepers_udp(struct bpf_iter__udp *ctx)
{
	report_sleepers(ctx->meta->seq, ctx->udp_sk);
	return 0;
}

#define AF_UNIX 1

// The unix iterator sees only the network namespace of the task that reads it: a unix socket
// made in another namespace (then passed, or kept across setns) is reached from the
// descriptor tables instead. For every unix socket held in one whose namespace is not the
// reader's, with something queued: the same walk and records as whoport_in_flight.
// `marked`: the records are read with the owner records (whoport_owners_queues), each
// receiver written as the first half of a struct record whose fd is QUEUE_RECORD.
static void foreign_queue(struct bpf_iter__task_file *ctx, int marked)
{
	struct file *file = ctx->file;
	struct queue_walk w = {};

	if (!ctx->task || !file)
		return;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock)
		return;
	struct sock *sk = sock->sk;
	if (!sk || sk->__sk_common.skc_family != AF_UNIX)
		return;
	struct net *net = sk->__sk_common.skc_net.net;
	__u32 mine = task_netns(bpf_get_current_task_btf());
	if (!net || !mine || net->ns.inum == mine)
		return;
	w.left = sk->sk_receive_queue.qlen;
	if (!w.left)
		return;
	w.seq = ctx->meta->seq;
	struct inode *inode = file->f_inode;
	if (inode)
		w.r.receiver = inode->i_ino;
	if (marked) {
		// { u32 tgid; u32 fd; } in memory: the receiver's inode, then QUEUE_RECORD.
		struct record m = { .tgid = (__u32)w.r.receiver, .fd = QUEUE_RECORD };
		__builtin_memcpy(&w.r.receiver, &m, sizeof(w.r.receiver));
	}
	w.next = sk->sk_receive_queue.next;
	walk_queue(&w);
}

SEC("iter/task_file")
int whoport_foreign_queues(struct bpf_iter__task_file *ctx)
{
	foreign_queue(ctx, 0);
	return 0;
}

// One pass for both: each descriptor's owner records, then (a unix socket of another
// namespace with something queued) what its queue carries. Everything one call writes is
// kept or discarded together, so the owner program's state is kept as for whoport_owners.
SEC("iter/task_file")
int whoport_owners_queues(struct bpf_iter__task_file *ctx)
{
	owner_records(ctx, 0);
	foreign_queue(ctx, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
