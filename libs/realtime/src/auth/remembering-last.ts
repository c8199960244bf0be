const NOTHING_YET = Symbol('nothing yet');

/**
 * `compute` with its last argument and answer remembered: on the handshake
 * path consecutive calls often repeat one (a service's token header, the
 * address of a NAT, a proxy or a load balancer), and a string compare is
 * cheaper than decoding or building it again. One entry: nothing grows.
 */
export function rememberingLast<A, R>(compute: (arg: A) => R): (arg: A) => R {
  let lastArg: A | typeof NOTHING_YET = NOTHING_YET;
  let lastAnswer: R;
  return (arg) => {
    if (arg !== lastArg) {
      lastAnswer = compute(arg);
      lastArg = arg;
    }
    return lastAnswer;
  };
}
