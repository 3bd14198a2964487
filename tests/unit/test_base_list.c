/* Unit tests for base/list: an all-zero list is empty; FIFO order; O(1) removal from the
 * head, middle and tail; the element from its node; push at the head. */
#include "base/list.h"
#include "check.h"

struct item {
    int v;
    struct cpgo_list_node link;
};

/* push_head: a retry goes before what waits, on an empty list and a full one, and the
 * list stays walkable both ways (remove of the new head and of the old tail). */
static void test_push_head(void)
{
    struct cpgo_list l = {0};
    struct item it[3] = {{.v = 0}, {.v = 1}, {.v = 2}};
    cpgo_list_push_head(&l, &it[1].link); /* empty: head and tail */
    cpgo_list_push_tail(&l, &it[2].link);
    cpgo_list_push_head(&l, &it[0].link);
    CHECK_EQ_INT(l.len, 3);
    int order = 0;
    for (struct cpgo_list_node *n = cpgo_list_head(&l); n; n = n->next)
        order = order * 10 + CPGO_LIST_DATA(n, struct item, link)->v + 1;
    CHECK_EQ_INT(order, 123);
    cpgo_list_remove(&l, &it[2].link);
    CHECK(l.tail == &it[1].link);
    CHECK_EQ_INT(CPGO_LIST_DATA(cpgo_list_pop_head(&l), struct item, link)->v, 0);
    CHECK_EQ_INT(CPGO_LIST_DATA(cpgo_list_pop_head(&l), struct item, link)->v, 1);
    CHECK(cpgo_list_empty(&l) && l.tail == NULL);
}

int main(void)
{
    test_push_head();
    struct cpgo_list l = {0};
    CHECK(cpgo_list_empty(&l));
    CHECK(cpgo_list_pop_head(&l) == NULL);
    CHECK(CPGO_LIST_DATA(cpgo_list_head(&l), struct item, link) == NULL);
    struct item it[5];
    for (int i = 0; i < 5; i++) {
        it[i].v = i;
        cpgo_list_push_tail(&l, &it[i].link);
    }
    CHECK_EQ_INT(l.len, 5);
    cpgo_list_remove(&l, &it[2].link); /* middle */
    cpgo_list_remove(&l, &it[4].link); /* tail */
    cpgo_list_remove(&l, &it[0].link); /* head */
    CHECK_EQ_INT(l.len, 2);
    struct item *a = CPGO_LIST_DATA(cpgo_list_pop_head(&l), struct item, link);
    CHECK(a && a->v == 1);
    cpgo_list_push_tail(&l, &it[0].link);
    struct item *b = CPGO_LIST_DATA(cpgo_list_pop_head(&l), struct item, link);
    CHECK(b && b->v == 3);
    b = CPGO_LIST_DATA(cpgo_list_pop_head(&l), struct item, link);
    CHECK(b && b->v == 0);
    CHECK(cpgo_list_empty(&l));
    CHECK(l.tail == NULL);
    CHECK_DONE();
}
