#!/bin/bash
# See tb-watchdog.service.
wd=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^tb_wd=//p' | tail -n1)
wd=${wd:-300}
up=$(cut -d. -f1 /proc/uptime)
[ "$up" -lt "$wd" ] && sleep $((wd - up))
echo "WATCHDOG boot not finished after ${wd}s of uptime; pending jobs:"
systemctl list-jobs --no-pager 2>&1 | sed 's/^/WATCHDOG   /'
echo "WATCHDOG the journal's last lines:"
journalctl -b -n 80 -o short-monotonic --no-pager 2>&1 | sed 's/^/WATCHDOG   /'
echo "WATCHDOG processes:"
for d in /proc/[0-9]*; do
    c=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null | cut -c1-120)
    [ -n "$c" ] || continue # kernel threads
    echo "WATCHDOG   ${d#/proc/} $(awk '{print $3}' "$d/stat" 2>/dev/null) $(cat "$d/wchan" 2>/dev/null): $c"
done
echo "WATCHDOG powering off"
sync
systemctl poweroff --force --force
