import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envConfig, startApp, type TestApp } from '../harness/app.js';
import { families } from './prom-text.js';

const read = (file: string) => readFileSync(new URL(`../../deploy/${file}`, import.meta.url), 'utf8');

/** Every PromQL expression in the dashboard: each panel's targets, and the variables' queries. */
function dashboardExprs(): string[] {
  const dashboard = JSON.parse(read('grafana-dashboard.json'));
  const out: string[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) out.push(t.expr);
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating.list) if (v.type === 'query') out.push(v.query.query ?? v.query);
  return out;
}

function ruleExprs(): { alert: string; expr: string }[] {
  const rules = parse(read('natter-alerts.yml'));
  return rules.groups.flatMap((g: any) => g.rules.map((r: any) => ({ alert: r.alert, expr: String(r.expr) })));
}

/** natter_* names in an expression; a histogram's _bucket/_sum/_count series name their family. */
function metricNames(expr: string, known: Map<string, string>): string[] {
  return [...expr.matchAll(/\bnatter_[a-zA-Z0-9_]+/g)].map(([name]) => {
    const family = name.replace(/_(bucket|sum|count)$/, '');
    return family !== name && ['histogram', 'summary'].includes(known.get(family) ?? '') ? family : name;
  });
}

describe('deploy/: the dashboard and the alert rules use metrics a node has', () => {
  let t: TestApp;
  let known: Map<string, string>;
  beforeAll(async () => {
    t = await startApp(envConfig({ METRICS_PORT: '0' }));
    known = families(await (await fetch(`${t.app.metricsUrl!}/metrics`)).text());
  });
  afterAll(async () => {
    await t?.close();
  });

  it('every natter_* metric in the dashboard exists on /metrics', () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(20);
    const missing = exprs.flatMap((e) => metricNames(e, known)).filter((n) => !known.has(n));
    expect([...new Set(missing)]).toEqual([]);
  });

  it('every natter_* metric in the alert rules exists on /metrics, and the rules cover what operators page on', () => {
    const rules = ruleExprs();
    const missing = rules.flatMap((r) => metricNames(r.expr, known)).filter((n) => !known.has(n));
    expect([...new Set(missing)]).toEqual([]);
    const all = rules.map((r) => r.expr).join('\n');
    for (const needed of [
      'natter_commit_duration_seconds_bucket',
      'natter_nodejs_eventloop_lag_p99_seconds',
      'natter_bus_publish_errors_total',
      'natter_push_oldest_job_age_seconds',
      'natter_ready',
      'natter_http_rate_limited_total',
      'up{job="natter"} == 0',
    ]) {
      expect(all).toContain(needed);
    }
  });

  it('the scrape config loads the rules file and scrapes /metrics', () => {
    const config = parse(read('prometheus.yml'));
    expect(config.rule_files).toContain('natter-alerts.yml');
    expect(config.scrape_configs[0]).toMatchObject({ job_name: 'natter', metrics_path: '/metrics' });
  });
});
