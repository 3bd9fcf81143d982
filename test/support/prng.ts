/**
 * The seeded PRNG (mulberry32) the property and fuzz tests share, so a failure reproduces from
 * its printed seed. It is the balancers' own, not a copy.
 */
export { seededRandom } from '../../src/router/balancers/balancer.js';
