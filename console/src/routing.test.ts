import { describe, expect, it } from 'vitest';
import { homeShareSinceStart, type JurisdictionRouting, percent } from './routing.js';

// a jurisdiction in cut-over: a draining region served some requests, home serves all recent ones
const US: JurisdictionRouting = {
  jurisdiction: 'US',
  total: 150,
  home: 100,
  byRegion: { 'oci-us-ashburn': 100, 'us-va-legacy': 50 },
  recentHomeShare: 1,
};

describe('homeShareSinceStart', () => {
  it('is the share of all requests since start served by home, whatever the recent share', () => {
    expect(homeShareSinceStart(US)).toBeCloseTo(2 / 3);
  });

  describe('when the jurisdiction had no requests', () => {
    it('is null, shown as no requests yet rather than 0%', () => {
      expect(homeShareSinceStart(undefined)).toBeNull();
      expect(
        homeShareSinceStart({ ...US, total: 0, home: 0, byRegion: {}, recentHomeShare: null }),
      ).toBeNull();
    });
  });
});

describe('percent', () => {
  it('shows a share with one decimal', () => {
    expect(percent(2 / 3)).toBe('66.7%');
    expect(percent(1)).toBe('100.0%');
    expect(percent(0)).toBe('0.0%');
  });
});
