# Runs its arguments (command lines) one after another in the background, logging to LOG
# (/tmp/r/queue.log). One at a time: TensorRT 8.5.3 crashed with several builds on one GPU. In
# the background: the GPU machine goes back after 30 s without a call, so poll the log.
#   OUT=/tmp/out bash /tmp/g/bg.sh "bash /tmp/g/exclude.sh" "M=eff bash /tmp/g/budget.sh"
# AFTER=LOG of an earlier queue waits for it to end (LOG.done) first. A command that is not one
# of these scripts sources /tmp/g/env.sh itself.
LOG=${LOG:-/tmp/r/queue.log}; mkdir -p /tmp/r "${OUT:-/tmp/out}"
export OUT=${OUT:-/tmp/out} LOG AFTER=${AFTER:-}
nohup setsid bash -c 'while [ -n "$AFTER" ] && [ ! -e "$AFTER.done" ]; do sleep 3; done
  for c in "$@"; do echo "### $(date +%T) $c"; bash -c "$c"; echo "### rc=$? $(date +%T)"; done
  echo "### queue done"; touch "$LOG.done"' queue "$@" >> $LOG 2>&1 < /dev/null &
echo started $!
