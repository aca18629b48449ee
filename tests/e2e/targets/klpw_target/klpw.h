/* SPDX-License-Identifier: GPL-2.0 */
#ifndef KLPW_H
#define KLPW_H
struct seq_file;
int klpw_aux_show(struct seq_file *m);
#endif
