/* version: the one place Starling's version is named (XEP-0092 answers with it). */
#ifndef STARLING_VERSION_H
#define STARLING_VERSION_H

#define STARLING_NAME "Starling"
#define STARLING_VERSION "0.1.0"

#endif
