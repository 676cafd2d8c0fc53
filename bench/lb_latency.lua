-- wrk script of bench/lb.py: sends wrk's own static request (no request()
-- or response() here, so wrk's request path is unchanged) and, when the
-- run is done, prints one JSON line with the latency percentiles in
-- milliseconds, beyond the four of `--latency`.

done = function(summary, latency, requests)
  local parts = {}
  for _, p in ipairs({50, 90, 99, 99.9}) do
    parts[#parts + 1] = string.format('"p%s": %.3f', (tostring(p):gsub("%.", "_")), latency:percentile(p) / 1000)
  end
  parts[#parts + 1] = string.format('"max": %.3f', latency.max / 1000)
  io.write("latency_ms ", "{", table.concat(parts, ", "), "}\n")
end
