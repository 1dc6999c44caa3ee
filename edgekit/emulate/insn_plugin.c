/*
 * edgekit instruction counter: a TCG plugin for qemu-user (qemu-aarch64, plugin API version 1, qemu 7.2).
 *
 * WHAT IS COUNTED
 *   Every guest (AArch64) instruction qemu executes, in every thread (vCPU) of the emulated process, and
 *   among them the SIMD/FP "vector" instructions (rule below). Counting happens per translation block: when a
 *   block is translated its instructions are counted and classified once; every time it executes, a callback
 *   adds those two numbers to the counters of the vCPU (= guest thread) that runs it. Each vCPU has its own
 *   counter slot, written only by its own host thread, so nothing races and no update is lost however many
 *   threads the guest runs; a snapshot sums all the slots. (A block left early, by a fault the guest handles,
 *   counts whole: a block is counted when it starts.) The counts depend only on the guest's execution path,
 *   never on host speed or load: repeat a single-threaded run with the same inputs, environment and
 *   addresses (setarch -R, PYTHONHASHSEED) and they are identical.
 *
 * THE VECTOR RULE (decided per instruction from its 32-bit encoding, at translation time)
 *   An instruction is "vector" when it is in the AArch64 top-level encoding group "Data Processing --
 *   Scalar Floating-Point and Advanced SIMD": op0 = bits[28:25] = x111, i.e. bits[27:25] == 0b111.
 *   That group holds all Advanced SIMD (NEON) arithmetic -- including SDOT/UDOT, FMLA, the
 *   crypto extensions -- and scalar floating-point data processing (FADD, FCVT, FMOV...). SIMD&FP
 *   loads/stores (LDR q0, LD1...) are NOT vector here: they are in the load/store group (op0 = x1x0,
 *   bit 26 set) and are counted only in the total. SVE (op0 = 0010) is not counted as vector (no
 *   Raspberry Pi core has it).
 *
 * MARKER PROTOCOL (the guest asks for a snapshot)
 *   The guest makes the system call number EDGEKIT_MARK_NR (0x6564, which is no Linux syscall on any
 *   architecture) with first argument EDGEKIT_MARK_MAGIC (0x45444745, "EDGE") and second argument a tag (any
 *   integer, e.g. 1 = "timed loop starts", 2 = "timed loop ends"). In Python (ctypes, glibc's syscall()):
 *       libc.syscall(c_long(0x6564), c_long(0x45444745), c_long(tag))
 *   qemu answers it with -ENOSYS as for any unknown syscall; a real kernel does too, so the marker is harmless
 *   off the emulator. Before qemu runs it, this plugin appends one line to the output file:
 *       <tag> <total> <vector> <vcpus>
 *   decimal integers: the tag, all instructions executed so far by all threads, the vector ones among them,
 *   and how many vCPU slots (threads) have run code so far. Instructions per inference between two markers is
 *   (total2 - total1) / inferences. The ~5,000 instructions of the marker call itself (Python/ctypes
 *   returning from one marker and entering the next) are included; mark twice in a row to measure them.
 *   Other lines start with '#': a header written when the plugin loads, and at exit
 *       # exit <total> <vector> <vcpus>
 *   Only the process the plugin was loaded into writes: a fork()ed child (whose copy of qemu inherits the
 *   plugin and the counters) stays silent. The file is opened, appended to and closed at each marker, so the
 *   guest can never close it under the plugin.
 *
 * ARGUMENTS
 *   outfile=PATH   where the lines go (required; truncated when the plugin loads)
 *   qemu-aarch64 -plugin insn.so,outfile=/tmp/counts.txt ...   (a ',' in PATH is written ',,')
 *
 * BUILD
 *   gcc -O2 -shared -fPIC -I<qemu source>/include/qemu $(pkg-config --cflags glib-2.0) insn_plugin.c -o insn.so
 */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define EDGEKIT_MARK_NR 0x6564
#define EDGEKIT_MARK_MAGIC 0x45444745u
#define MAX_SLOTS 1024 /* vCPU indexes in qemu-user are the smallest free ones: bounded by live threads */

/* One slot per vCPU, padded to a cache line so threads never share a line. */
typedef struct {
    uint64_t total;
    uint64_t vector;
    uint64_t pad[6];
} Slot;

static Slot slots[MAX_SLOTS];
static Slot overflow; /* threads beyond MAX_SLOTS (never seen in practice): atomic adds */
static char *outfile;
static pid_t owner;

static inline int is_vector(uint32_t insn)
{
    return ((insn >> 25) & 7u) == 7u; /* Data Processing -- Scalar FP and Advanced SIMD */
}

static void tb_exec(unsigned int vcpu_index, void *udata)
{
    /* The block's counts are packed in the pointer: low 32 bits all instructions, high 32 bits vector. */
    uint64_t packed = (uint64_t)(uintptr_t)udata;
    uint64_t n = packed & 0xffffffffu, v = packed >> 32;
    if (vcpu_index < MAX_SLOTS) {
        Slot *s = &slots[vcpu_index];
        /* Only this vCPU's host thread writes the slot; relaxed atomics keep snapshot reads untorn. */
        __atomic_store_n(&s->total, s->total + n, __ATOMIC_RELAXED);
        __atomic_store_n(&s->vector, s->vector + v, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_add(&overflow.total, n, __ATOMIC_RELAXED);
        __atomic_fetch_add(&overflow.vector, v, __ATOMIC_RELAXED);
    }
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint32_t word = 0;
        if (qemu_plugin_insn_size(insn) == 4) {
            memcpy(&word, qemu_plugin_insn_data(insn), 4); /* AArch64 instructions are little-endian words */
            v += is_vector(word);
        }
    }
    uint64_t packed = ((uint64_t)v << 32) | (uint64_t)n;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)packed);
}

static void snapshot(uint64_t *total, uint64_t *vector, unsigned *vcpus)
{
    uint64_t t = __atomic_load_n(&overflow.total, __ATOMIC_RELAXED);
    uint64_t v = __atomic_load_n(&overflow.vector, __ATOMIC_RELAXED);
    unsigned used = t ? 1 : 0;
    for (unsigned i = 0; i < MAX_SLOTS; i++) {
        uint64_t st = __atomic_load_n(&slots[i].total, __ATOMIC_RELAXED);
        if (st) {
            t += st;
            v += __atomic_load_n(&slots[i].vector, __ATOMIC_RELAXED);
            used++;
        }
    }
    *total = t;
    *vector = v;
    *vcpus = used;
}

static void emit(const char *prefix)
{
    if (getpid() != owner) {
        return; /* a fork()ed child: only the original process reports */
    }
    uint64_t t, v;
    unsigned used;
    snapshot(&t, &v, &used);
    FILE *f = fopen(outfile, "a");
    if (!f) {
        return;
    }
    fprintf(f, "%s %" PRIu64 " %" PRIu64 " %u\n", prefix, t, v, used);
    fclose(f);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8)
{
    if (num != EDGEKIT_MARK_NR || (a1 & 0xffffffffu) != EDGEKIT_MARK_MAGIC) {
        return;
    }
    char tag[32];
    snprintf(tag, sizeof tag, "%" PRId64, (int64_t)a2);
    emit(tag);
}

static void plugin_exit(qemu_plugin_id_t id, void *userdata)
{
    emit("# exit");
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    if (info->system_emulation || strcmp(info->target_name, "aarch64") != 0) {
        fprintf(stderr, "edgekit insn plugin: needs qemu-user for aarch64 (got %s%s)\n", info->target_name,
                info->system_emulation ? ", system emulation" : "");
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "outfile=", 8) == 0) {
            outfile = strdup(argv[i] + 8);
        } else {
            fprintf(stderr, "edgekit insn plugin: unknown argument '%s' (expected outfile=PATH)\n", argv[i]);
            return -1;
        }
    }
    if (!outfile || !*outfile) {
        fprintf(stderr, "edgekit insn plugin: missing outfile=PATH\n");
        return -1;
    }
    FILE *f = fopen(outfile, "w");
    if (!f) {
        fprintf(stderr, "edgekit insn plugin: cannot write %s\n", outfile);
        return -1;
    }
    fprintf(f, "# edgekit insn counter v1: <tag> <total> <vector> <vcpus>; vector = bits[27:25] == 0b111\n");
    fclose(f);
    owner = getpid();
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
