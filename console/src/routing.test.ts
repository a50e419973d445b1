import { describe, expect, it } from 'vitest';
import { parseRouting, percent } from './routing.js';

const METRICS = `# HELP domicile_routed_total Requests routed
# TYPE domicile_routed_total counter
domicile_routed_total{jurisdiction="US",region="oci-us-ashburn",home="true"} 9
domicile_routed_total{jurisdiction="US",region="us-va-legacy",home="false"} 1
domicile_routed_total{jurisdiction="SG",region="sg-singapore",home="true"} 2
# TYPE domicile_home_share_ratio gauge
domicile_home_share_ratio{jurisdiction="US"} 0.9
domicile_home_share_ratio{jurisdiction="SG"} 1
domicile_requests_total{jurisdiction="US",region="oci-us-ashburn",outcome="200"} 9
`;

describe('parseRouting', () => {
  it('reads requests per region and the home shares of each jurisdiction', () => {
    const routing = parseRouting(METRICS);
    expect(routing.get('US')).toEqual({
      jurisdiction: 'US',
      total: 10,
      home: 9,
      byRegion: { 'oci-us-ashburn': 9, 'us-va-legacy': 1 },
      recentHomeShare: 0.9,
    });
    expect(routing.get('SG')?.recentHomeShare).toBe(1);
    expect(routing.has('EU')).toBe(false);
    expect(percent(0.9)).toBe('90.0%');
  });
});
