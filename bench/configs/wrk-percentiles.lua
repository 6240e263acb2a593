-- bench/configs/wrk-percentiles.lua -- wrk script of bench/quality.sh:
-- after the run, print the latency percentiles wrk's --latency does not
-- (99.9, 99.99) and the error counts, one "LBQ name value" line each.
-- Latencies are in microseconds.
done = function(summary, latency, requests)
    local ps = { 50, 75, 90, 95, 99, 99.5, 99.9, 99.99 }
    for _, p in ipairs(ps) do
        io.write(string.format("LBQ p%s %d\n", tostring(p), latency:percentile(p)))
    end
    io.write(string.format("LBQ max %d\n", latency.max))
    io.write(string.format("LBQ requests %d\n", summary.requests))
    io.write(string.format("LBQ duration_us %d\n", summary.duration))
    local e = summary.errors
    io.write(string.format("LBQ errors connect=%d read=%d write=%d status=%d timeout=%d\n",
                           e.connect, e.read, e.write, e.status, e.timeout))
end
