# shellcheck shell=sh
# Scenario 11 (class A1, zero-size objects): alloc_pipe_info initialises the
# new pipe's two wait queues and its mutex; each init macro has its own
# static lockdep key __key.N, an object of size 0 without lockdep (Debian),
# referenced at its start = its end.  The patch doubles a new pipe's
# capacity; guest/uaccess-probe pipe fills a non-blocking pipe (wait queues,
# mutex) and reads it back.
LP=klpw_s11; LPD=/sys/kernel/livepatch/$LP
P=$E2E_FILES/uaccess-probe
is  orig_pipe "$($P pipe)" "size=65536 filled=65536 drained=65536"
load insmod $LP.ko || { done_checks; exit 1; }
runs transition klp_settle $LP 60
runs sysfs_func test -d $LPD/vmlinux/alloc_pipe_info,1
is  patched_pipe "$($P pipe)" "size=131072 filled=131072 drained=131072"
is  patched_pipe_again "$($P pipe)" "size=131072 filled=131072 drained=131072"
is  patched_shell_pipe "$(echo klpwrite | cat | cat)" klpwrite
runs disable klp_disable $LP
is  restored_pipe "$($P pipe)" "size=65536 filled=65536 drained=65536"
runs rmmod rmmod $LP
is  after_rmmod_pipe "$($P pipe)" "size=65536 filled=65536 drained=65536"
done_checks
