/*
 * list.h - an intrusive doubly-linked list (as libuv's queue.h): the node lives inside the
 * element, so queuing allocates nothing and removal from the middle is O(1). Unlike libuv's
 * circular QUEUE, an all-zero list is a valid empty list, so lists embedded in calloc'd
 * structs need no init call.
 *
 *   struct job { struct cpgo_list_node link; ... };
 *   struct cpgo_list waiting = {0};
 *   cpgo_list_push_tail(&waiting, &j->link);
 *   struct job *first = CPGO_LIST_DATA(cpgo_list_head(&waiting), struct job, link);
 *
 * Owns: nothing (the elements belong to the caller). Thread: one owner at a time.
 */
#ifndef CPGO_BASE_LIST_H
#define CPGO_BASE_LIST_H

#include <assert.h>
#include <stddef.h>

struct cpgo_list_node {
    struct cpgo_list_node *next, *prev;
};

struct cpgo_list {
    struct cpgo_list_node *head, *tail;
    size_t len;
};

static inline void *cpgo_list_data_at(struct cpgo_list_node *n, size_t offset)
{
    return n ? (void *)((char *)n - offset) : NULL;
}
/* The element that contains node (NULL for NULL); node is evaluated once. */
#define CPGO_LIST_DATA(node, type, field) ((type *)cpgo_list_data_at((node), offsetof(type, field)))

static inline int cpgo_list_empty(const struct cpgo_list *l)
{
    return l->head == NULL;
}

static inline struct cpgo_list_node *cpgo_list_head(const struct cpgo_list *l)
{
    return l->head;
}

static inline void cpgo_list_push_tail(struct cpgo_list *l, struct cpgo_list_node *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
    l->len++;
}

/* At the front: a retry or a continuation that must go before what waits. */
static inline void cpgo_list_push_head(struct cpgo_list *l, struct cpgo_list_node *n)
{
    n->prev = NULL;
    n->next = l->head;
    if (l->head)
        l->head->prev = n;
    else
        l->tail = n;
    l->head = n;
    l->len++;
}

/* Removes n, which must be on l. */
static inline void cpgo_list_remove(struct cpgo_list *l, struct cpgo_list_node *n)
{
    assert(l->len > 0);
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->next = n->prev = NULL;
    l->len--;
}

static inline struct cpgo_list_node *cpgo_list_pop_head(struct cpgo_list *l)
{
    struct cpgo_list_node *n = l->head;
    if (n) cpgo_list_remove(l, n);
    return n;
}

#endif
