//! CPU time as Linux counts it in `/proc`: a process's, and the whole machine's busy time.

/// Linux's `USER_HZ`, the unit of `/proc` CPU times (100 on every Linux target).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// CPU time (user and system, every thread) process `pid` has used, in seconds.
pub fn process_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    process_seconds_from_stat(&stat)
}

fn process_seconds_from_stat(stat: &str) -> Option<f64> {
    // The command name may hold spaces: the fields after it follow the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / CLOCK_TICKS_PER_SECOND)
}

/// Time the machine's cores have spent busy since boot, summed over the cores, in seconds.
pub fn machine_busy_seconds() -> Option<f64> {
    machine_busy_seconds_from_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn machine_busy_seconds_from_stat(stat: &str) -> Option<f64> {
    // "cpu  user nice system idle iowait irq softirq steal guest guest_nice": guest time
    // is already in user; idle and iowait are the time no task ran.
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let busy = [0, 1, 2, 5, 6, 7].iter().map(|&i| fields.get(i).copied()).sum::<Option<f64>>()?;
    Some(busy / CLOCK_TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_process_line_is_read_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (expo hub (x)) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 75 0 0 20 0";
        assert_eq!(process_seconds_from_stat(stat), Some(3.25));
        assert_eq!(process_seconds_from_stat("4242 (cut short) S 1"), None);
    }

    #[test]
    fn the_machine_is_busy_for_all_but_its_idle_and_io_wait_time() {
        let stat =
            "cpu  1000 50 300 9000 200 10 40 100 0 0\ncpu0 500 25 150 4500 100 5 20 50 0 0\n";
        assert_eq!(machine_busy_seconds_from_stat(stat), Some(15.0));
        assert_eq!(machine_busy_seconds_from_stat("intr 1 2 3\n"), None);
    }

    #[test]
    fn this_process_and_this_machine_can_be_read() {
        assert!(process_seconds(std::process::id()).is_some());
        assert!(machine_busy_seconds().is_some_and(|busy| busy > 0.0));
    }
}
