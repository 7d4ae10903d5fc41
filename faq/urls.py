app_name = "faq"

urlpatterns: list = []
