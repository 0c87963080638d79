// Daily statistics from GET /api/stats: one unsplit read and one per split the page shows.

const FIELDS = ["requests", "errors", "cancelled", "quota", "prompt_tokens", "completion_tokens"];

function totalOf(records) {
  const total = Object.fromEntries(FIELDS.map((f) => [f, 0]));
  for (const r of records) for (const f of FIELDS) total[f] += r[f] || 0;
  return total;
}

/**
 * Read a period's statistics: `daily` (unsplit), `split[by]` for each name in `splits`, the time zone
 * of the day boundaries (`zone`), the first and last day the gateway counted (`since`, `until`), the
 * rate of quota per USD (`rate`, null if unknown) and the period's `total` (with its own p50/p95).
 * `range.since` and `range.until` are days (YYYY-MM-DD) in the gateway's statistics zone.
 */
export async function loadStats(api, path, range, splits) {
  const params = { since: range.since, until: range.until };
  const names = [...new Set(splits)];
  const [daily, ...parts] = await Promise.all([
    api.json(path, params),
    ...names.map((by) => api.json(path, { ...params, by })),
  ]);
  const split = {};
  names.forEach((by, i) => {
    split[by] = parts[i].data;
  });
  return {
    zone: daily.timezone || null,
    since: daily.since || range.since,
    until: daily.until || range.until,
    rate: daily.quota_per_usd || null,
    daily: daily.data,
    total: daily.total || totalOf(daily.data),
    split,
  };
}

/** The same shape from GET /api/token/self, which reads only the caller's own token (split by model). */
export async function loadSelfStats(api, path, range) {
  const params = { since: range.since, until: range.until };
  const [daily, byModel] = await Promise.all([api.json(path, params), api.json(path, { ...params, by: "model" })]);
  return {
    me: daily,
    stats: {
      zone: daily.timezone || null,
      since: daily.since || range.since,
      until: daily.until || range.until,
      rate: daily.quota_per_usd || null,
      daily: daily.usage,
      total: daily.usage_total || totalOf(daily.usage),
      split: { model: byModel.usage },
    },
  };
}
