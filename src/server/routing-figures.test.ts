import { describe, expect, it } from 'vitest';
import { HOME_SHARE_WINDOW, RoutingFigures } from './routing-figures.js';

describe('RoutingFigures', () => {
  describe('after a cut-over: a draining region served, then home, then a failover region', () => {
    const figures = new RoutingFigures();
    for (let n = 0; n < 150; n++) figures.record('US', 'us-va-legacy', false);
    for (let n = 0; n < 250; n++) figures.record('US', 'oci-us-ashburn', true);
    for (let n = 0; n < 30; n++) figures.record('US', 'oci-us-phoenix', false);
    figures.record('SG', null, false);

    it('counts every request since start per serving region', () => {
      expect(figures.report()).toEqual([
        { jurisdiction: 'SG', total: 1, home: 0, byRegion: { none: 1 }, recentHomeShare: 0 },
        {
          jurisdiction: 'US',
          total: 430,
          home: 250,
          byRegion: { 'oci-us-ashburn': 250, 'oci-us-phoenix': 30, 'us-va-legacy': 150 },
          recentHomeShare: (HOME_SHARE_WINDOW - 30) / HOME_SHARE_WINDOW,
        },
      ]);
    });

    it('gives the home label of each region to /metrics', () => {
      expect(figures.counts()).toContainEqual({
        jurisdiction: 'US',
        region: 'oci-us-ashburn',
        home: true,
        requests: 250,
      });
      expect(figures.counts()).toContainEqual({
        jurisdiction: 'SG',
        region: 'none',
        home: false,
        requests: 1,
      });
    });
  });

  it('computes the recent share over the requests so far until the window is full', () => {
    const figures = new RoutingFigures();
    for (const home of [true, false, true, true]) figures.record('EU', home ? 'eu-frankfurt' : null, home);
    expect(figures.report()[0]?.recentHomeShare).toBe(0.75);
  });
});
