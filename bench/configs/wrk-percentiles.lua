-- bench/configs/wrk-percentiles.lua -- wrk script of bench/quality.sh:
-- after the run, print the latency percentiles wrk's --latency does not
-- (99.9, 99.99), the requests that took 1 s or more and the error counts,
-- one "LBQ name value" line each.  Latencies are in microseconds: wrk's
-- own histogram of the requests it actually sent (plain wrk, closed loop:
-- no coordinated-omission fill-ins, as wrk2's -R would add).
--
-- Environment (all optional):
--   LBQ_THINK_MS  mean think time between a connection's requests, ms
--                 (exponentially distributed): many users with think time,
--                 close to open load; unset or 0: back to back
--   LBQ_KEYS      append "&k=<key>" with a key drawn uniformly from
--                 LBQ_KEYS keys (hash scenario)
--   LBQ_HOT       with LBQ_KEYS: this share of requests (0..1) uses the
--                 one key "hot"
local think = tonumber(os.getenv("LBQ_THINK_MS") or "") or 0
local keys = tonumber(os.getenv("LBQ_KEYS") or "") or 0
local hot = tonumber(os.getenv("LBQ_HOT") or "") or 0

init = function(args)
    -- a different sequence per thread
    math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

if think > 0 then
    delay = function()
        return math.floor(-think * math.log(1 - math.random()))
    end
end

if keys > 0 then
    request = function()
        local k
        if hot > 0 and math.random() < hot then
            k = "hot"
        else
            k = "key" .. math.random(1, keys)
        end
        return wrk.format(nil, wrk.path .. "&k=" .. k)
    end
end

done = function(summary, latency, requests)
    local ps = { 50, 75, 90, 95, 99, 99.5, 99.9, 99.99 }
    for _, p in ipairs(ps) do
        io.write(string.format("LBQ p%s %d\n", tostring(p), latency:percentile(p)))
    end
    io.write(string.format("LBQ max %d\n", latency.max))
    -- #latency: distinct latencies seen; latency(i): the i-th of them
    -- (ascending, usec) and how many requests took it
    local slow = 0
    if latency.max >= 1000000 then
        for i = 1, #latency do
            local v, c = latency(i)
            if v >= 1000000 then
                slow = slow + c
            end
        end
    end
    io.write(string.format("LBQ ge1s %d\n", slow))
    io.write(string.format("LBQ requests %d\n", summary.requests))
    io.write(string.format("LBQ duration_us %d\n", summary.duration))
    local e = summary.errors
    io.write(string.format("LBQ errors connect=%d read=%d write=%d status=%d timeout=%d\n",
                           e.connect, e.read, e.write, e.status, e.timeout))
end
