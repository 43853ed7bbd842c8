/* provision: `starling-bench provision`, accounts and rosters for a scenario
 * on a server.  Starling through `starlingctl provision`, Prosody and
 * ejabberd through bench/peers/<server>.sh, which write their own storage. */
#ifndef STARLING_BENCH_PROVISION_H
#define STARLING_BENCH_PROVISION_H

/* argv[0] is "provision".  Returns the exit status (the tool's, or 2 on a
 * usage error); on success it does not return (exec). */
int provision_main(int argc, char **argv);

#endif
